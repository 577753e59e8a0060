//! The pool of heavy media work (perceptual hashes, public copies): CPU- or memory-hungry
//! blocking work runs here, at most `heavy_work.workers` jobs at once (default: the number of
//! cores) and within a memory budget (`heavy_work.memory_mib`), so a burst of large uploads
//! queues instead of decoding all at once. Uploads keep streaming to disk meanwhile: only the
//! work after staging waits for a permit.
//!
//! A job declares what it will hold at its peak (bytes, from the file's header: see
//! `normalizers::media::decode_cost`); it waits until that much of the budget is free. A job
//! larger than the whole budget takes the whole budget, so it runs alone.
//!
//! The pool is process-wide (one per gateway, as the cores and the memory are): `serve`
//! configures it from the configuration before anything runs; until then (tests, benches,
//! `gateway check`) it has the defaults.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// `[heavy_work]`: bounds of the heavy media work.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeavyWorkConfig {
    /// Jobs at once; 0 = the number of cores.
    pub workers: usize,
    /// Memory the jobs may hold together, in MiB (decoded pixels, coefficients, buffers).
    pub memory_mib: u32,
}

impl Default for HeavyWorkConfig {
    fn default() -> Self {
        HeavyWorkConfig {
            workers: 0,
            memory_mib: 64,
        }
    }
}

impl HeavyWorkConfig {
    /// Problems `gateway check-config` reports (and `serve` refuses).
    pub fn problems(&self) -> Vec<channels::ConfigProblem> {
        let mut problems = Vec::new();
        if self.memory_mib < 8 {
            problems.push(channels::ConfigProblem::error(
                "heavy_work.memory_mib",
                channels::Problem::Invalid("at least 8 MiB: one photo's decode needs it".into()),
            ));
        }
        if self.workers > 256 {
            problems.push(channels::ConfigProblem::error(
                "heavy_work.workers",
                channels::Problem::Invalid("at most 256 (0 = the number of cores)".into()),
            ));
        }
        problems
    }

    fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

/// Why a heavy job did not give its result.
#[derive(Debug, thiserror::Error)]
pub enum HeavyError {
    #[error("the heavy-work pool is closed")]
    Closed,
    #[error("a heavy job panicked or was cancelled: {0}")]
    Join(#[from] tokio::task::JoinError),
}

pub struct HeavyPool {
    workers: Semaphore,
    memory: Semaphore,
    /// The budget in KiB units (the memory semaphore's permits).
    budget_kib: u32,
}

static POOL: OnceLock<HeavyPool> = OnceLock::new();

/// Size the process-wide pool; false when it was already in use (the first sizing stays).
pub fn configure(config: &HeavyWorkConfig) -> bool {
    POOL.set(HeavyPool::new(config)).is_ok()
}

/// The process-wide pool.
pub fn pool() -> &'static HeavyPool {
    POOL.get_or_init(|| HeavyPool::new(&HeavyWorkConfig::default()))
}

impl HeavyPool {
    pub fn new(config: &HeavyWorkConfig) -> Self {
        let budget_kib = config.memory_mib.max(1).saturating_mul(1024);
        HeavyPool {
            workers: Semaphore::new(config.workers().max(1)),
            memory: Semaphore::new(budget_kib as usize),
            budget_kib,
        }
    }

    /// Run `job` on the blocking threads once a worker and `cost` bytes of the budget are free.
    pub async fn run<T, F>(&self, cost: u64, job: F) -> Result<T, HeavyError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let kib = u32::try_from(cost.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_kib);
        // Memory first, then a worker: a job waiting for memory holds no worker.
        let memory = self
            .memory
            .acquire_many(kib)
            .await
            .map_err(|_| HeavyError::Closed)?;
        let worker = self
            .workers
            .acquire()
            .await
            .map_err(|_| HeavyError::Closed)?;
        let result = tokio::task::spawn_blocking(job).await;
        drop((worker, memory));
        Ok(result?)
    }

    /// Jobs that may run at once.
    pub fn workers(&self) -> usize {
        self.workers.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    async fn peak_of(pool: Arc<HeavyPool>, jobs: usize, cost: u64) -> usize {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..jobs)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(cost, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        peak.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_queue_for_workers_and_for_memory() {
        let config = |workers, memory_mib| HeavyWorkConfig {
            workers,
            memory_mib,
        };
        let cheap = Arc::new(HeavyPool::new(&config(3, 64)));
        assert_eq!(peak_of(cheap, 16, 1024).await, 3);
        // 40 MiB jobs in a 64 MiB budget: one at a time, whatever the workers.
        let big = Arc::new(HeavyPool::new(&config(8, 64)));
        assert_eq!(peak_of(big, 6, 40 << 20).await, 1);
        // Larger than the budget: runs alone instead of never.
        let huge = Arc::new(HeavyPool::new(&config(8, 64)));
        assert_eq!(peak_of(huge, 3, 1 << 40).await, 1);
    }

    #[test]
    fn check_config_refuses_a_budget_too_small_for_one_photo() {
        let bad = HeavyWorkConfig {
            workers: 0,
            memory_mib: 2,
        };
        assert_eq!(bad.problems().len(), 1);
        assert!(HeavyWorkConfig::default().problems().is_empty());
    }
}
