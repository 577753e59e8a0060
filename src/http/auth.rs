//! API keys and roles (R-SEC-1): `Authorization: Bearer KEY`. Keys are compared as sha256
//! digests in constant time; only a short digest prefix ever names a client (idempotency
//! namespace, logs), never the key.
//!
//! Handlers take [`Authorized<R>`] as their first extractor: the request is authenticated
//! before anything else of it is read.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::config::{ApiKeys, Role};

pub struct KeyRing {
    keys: Vec<([u8; 32], Role, Option<String>)>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// First 12 hex digits of the key's sha256.
    pub client: String,
    /// The agency an `agency` key acts for (as configured).
    pub agency: Option<String>,
}

impl KeyRing {
    pub fn new(keys: &ApiKeys) -> Self {
        KeyRing {
            keys: keys
                .0
                .iter()
                .map(|k| {
                    (
                        Sha256::digest(k.key.expose().as_bytes()).into(),
                        k.role,
                        k.agency.clone(),
                    )
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller behind the request's bearer key, if it has `role`.
    pub fn require(&self, headers: &HeaderMap, role: Role) -> Result<Caller, ApiError> {
        let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (k, r, agency) in &self.keys {
            if bool::from(k.ct_eq(&digest)) {
                found = Some((*r, agency));
            }
        }
        let (found, agency) = found.ok_or(ApiError::Unauthorized)?;
        if found != role {
            return Err(ApiError::Forbidden);
        }
        Ok(Caller {
            role: found,
            client: hex::encode(&digest[..6]),
            agency: agency.clone(),
        })
    }
}

/// A role an endpoint requires, as a type.
pub trait RoleMarker: Send + Sync + 'static {
    const ROLE: Role;
}

/// Submission endpoints (the app, the portal, Open311 clients).
pub struct Submitter;

impl RoleMarker for Submitter {
    const ROLE: Role = Role::Submit;
}

/// The IOC's endpoints.
pub struct Ioc;

impl RoleMarker for Ioc {
    const ROLE: Role = Role::Ioc;
}

/// A handling agency's endpoints (`/v1/agency/…`): the caller's [`Caller::agency`] is set.
pub struct Agency;

impl RoleMarker for Agency {
    const ROLE: Role = Role::Agency;
}

/// The caller, authenticated with a key of role `R` (401 without a valid key, 403 with a key of
/// another role).
pub struct Authorized<R: RoleMarker> {
    pub caller: Caller,
    role: PhantomData<R>,
}

impl<R: RoleMarker> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = state.keys.require(&parts.headers, R::ROLE)?;
        Ok(Authorized {
            caller,
            role: PhantomData,
        })
    }
}

/// The bearer token of a request's `Authorization` header, if it carries one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}
