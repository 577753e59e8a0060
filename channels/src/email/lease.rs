//! One IMAP poller at a time across gateway instances (R-Q-4): a lease in the shared
//! [`StateStore`], taken with compare-and-swap, renewed while held, and taken over by another
//! instance once its holder stops renewing it (the time to live runs out).

use std::time::Duration;

use crate::intake::{StateStore, StoreError};

/// The holder is the instance id: an instance restarted after a crash (same id) resumes at once
/// instead of waiting for its own stale lease to expire. Instances running at the same time
/// must therefore have distinct ids (the host name, or `GATEWAY_INSTANCE_ID`).
pub struct Lease {
    key: String,
    holder: Vec<u8>,
    ttl: Duration,
}

impl Lease {
    pub fn new(mailbox: &str, instance_id: &str, ttl: Duration) -> Self {
        Lease {
            key: format!("email:lease:{mailbox}"),
            holder: instance_id.as_bytes().to_vec(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Take the lease if it is free, or renew it if we hold it. False: another instance holds it.
    pub async fn acquire_or_renew<T: StateStore>(&self, state: &T) -> Result<bool, StoreError> {
        if state
            .compare_and_swap(
                &self.key,
                Some(&self.holder),
                Some(&self.holder),
                Some(self.ttl),
            )
            .await?
        {
            return Ok(true);
        }
        state
            .compare_and_swap(&self.key, None, Some(&self.holder), Some(self.ttl))
            .await
    }

    /// Give the lease up (on shutdown), so another instance need not wait for it to expire.
    pub async fn release<T: StateStore>(&self, state: &T) -> Result<(), StoreError> {
        state
            .compare_and_swap(&self.key, Some(&self.holder), None, None)
            .await
            .map(|_| ())
    }
}
