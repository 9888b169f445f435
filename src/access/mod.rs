//! Who may do what: the four roles and the tokens that carry them.
//!
//! A token is configured by a name, a role and the SHA-256 of its secret;
//! the secret itself is never stored. [`TokenTable::lookup`] hashes the
//! secret a client presents once and compares the digest with every entry
//! in constant time (all entries, fixed 32-byte digests: neither the
//! position nor the length of a match leaks). [`Tokens`] is the table in
//! use, shared by the HTTP adapter and the ZeroMQ gateway and replaced as a
//! whole when the daemon reloads its config (SIGHUP).
//!
//! Roles: `viewer` ⊂ `operator` ⊂ `admin`; `worker` is apart (only the
//! worker endpoints), and an admin may also call those.

use std::fmt;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every read, the event and task streams, the POSTs that only read.
    Viewer,
    /// A viewer who also runs work and changes running swarms.
    Operator,
    /// An operator who also creates, stops and purges swarms, starts and
    /// kills processes, drains workers and switches maintenance.
    Admin,
    /// Only the worker endpoints (and the ZeroMQ `ready` token).
    Worker,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Admin, Role::Worker];

    /// Whether a caller with this role may call a route that needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        use Role::*;
        matches!((self, needed), (Admin, _) | (Operator, Viewer | Operator) | (Viewer, Viewer) | (Worker, Worker))
    }

    /// The serde name (`viewer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the name of the token (or [`Principal::LOOPBACK`],
/// [`Principal::SERVER_TOKEN`]) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name.
    pub name: Arc<str>,
    /// Its role.
    pub role: Role,
}

impl Principal {
    /// The name of a loopback client of a daemon with no token (an admin).
    pub const LOOPBACK: &'static str = "loopback";
    /// The name of the single `[server] token` / `HIVE_TOKEN` (an admin).
    pub const SERVER_TOKEN: &'static str = "server";
    /// The name of a worker admitted by the shared `[gateway] token`.
    pub const GATEWAY_TOKEN: &'static str = "gateway";

    /// A loopback client of a daemon without tokens.
    pub fn loopback() -> Self {
        Self { name: Self::LOOPBACK.into(), role: Role::Admin }
    }

    /// Whether it sees every task, not only its own.
    pub fn sees_all_tasks(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A token as the config file lists it (`[[server.tokens]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Its name: tasks it submits are recorded as its, events name it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The SHA-256 of the secret, 64 hex digits (`hive token new` prints it).
    pub sha256: String,
}

/// A token configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `sha256` is not 64 hex digits.
    #[error("token '{name}': sha256 must be 64 hex digits (the SHA-256 of the secret)")]
    BadDigest {
        /// The token's name.
        name: String,
    },
    /// Two tokens have one name.
    #[error("token '{name}' is listed twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A name outside `[A-Za-z0-9_.-]{1,64}`.
    #[error("token name '{name}' must be 1 to 64 letters, digits, '_', '.' or '-'")]
    BadName {
        /// The name.
        name: String,
    },
}

struct Entry {
    name: Arc<str>,
    role: Role,
    digest: [u8; 32],
}

/// Every token a daemon accepts.
#[derive(Default)]
pub struct TokenTable {
    entries: Vec<Entry>,
}

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| (&*e.name, e.role))).finish()
    }
}

impl TokenTable {
    /// The listed tokens, plus the single server token (an admin named
    /// [`Principal::SERVER_TOKEN`]) when one is set.
    pub fn new(specs: &[TokenSpec], server_token: Option<&str>) -> Result<Self, TokenError> {
        let mut entries = Vec::with_capacity(specs.len() + 1);
        if let Some(secret) = server_token.filter(|t| !t.is_empty()) {
            entries.push(Entry { name: Principal::SERVER_TOKEN.into(), role: Role::Admin, digest: digest(secret) });
        }
        for s in specs {
            let valid = !s.name.is_empty()
                && s.name.len() <= 64
                && s.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                return Err(TokenError::BadName { name: s.name.clone() });
            }
            if entries.iter().any(|e: &Entry| *e.name == *s.name) {
                return Err(TokenError::DuplicateName { name: s.name.clone() });
            }
            let digest = parse_digest(&s.sha256).ok_or_else(|| TokenError::BadDigest { name: s.name.clone() })?;
            entries.push(Entry { name: s.name.as_str().into(), role: s.role, digest });
        }
        Ok(Self { entries })
    }

    /// No token at all: only loopback clients are served (as admins).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Each token's name and role (never its digest), in the config's order.
    pub fn names(&self) -> Vec<(Arc<str>, Role)> {
        self.entries.iter().map(|e| (e.name.clone(), e.role)).collect()
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether any token has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.entries.iter().any(|e| e.role == role)
    }

    /// The worker a secret admits: a listed token whose role allows the
    /// worker's (worker, admin), or the shared gateway token `shared` (a
    /// `worker` named [`Principal::GATEWAY_TOKEN`]). HTTP workers and the
    /// ZeroMQ `ready` are admitted by this one check.
    pub fn worker(&self, secret: &str, shared: Option<&str>) -> Option<Principal> {
        if let Some(p) = self.lookup(secret).filter(|p| p.role.allows(Role::Worker)) {
            return Some(p);
        }
        shared
            .filter(|s| crate::token::matches(secret, s))
            .map(|_| Principal { name: Principal::GATEWAY_TOKEN.into(), role: Role::Worker })
    }

    /// The token whose secret is `secret`, compared with every entry in
    /// constant time.
    pub fn lookup(&self, secret: &str) -> Option<Principal> {
        let given = digest(secret);
        let mut found: Option<&Entry> = None;
        for e in &self.entries {
            if bool::from(e.digest.ct_eq(&given)) {
                found = Some(e);
            }
        }
        found.map(|e| Principal { name: e.name.clone(), role: e.role })
    }
}

/// The token table in use; cloning shares it. Readers take the current
/// table (an `Arc`, no lock held afterwards); a reload replaces it whole.
#[derive(Clone, Default)]
pub struct Tokens(Arc<RwLock<Arc<TokenTable>>>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.current().fmt(f)
    }
}

impl Tokens {
    /// A shared table starting as `table`.
    pub fn new(table: TokenTable) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(table))))
    }

    /// The table now.
    pub fn current(&self) -> Arc<TokenTable> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the table (a config reload); callers in flight keep the
    /// one they took.
    pub fn replace(&self, table: TokenTable) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }
}

/// The SHA-256 of a secret.
fn digest(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(secret.as_bytes()));
    out
}

/// The SHA-256 of a secret, as the config lists it (64 lowercase hex digits).
pub fn digest_hex(secret: &str) -> String {
    hex(String::with_capacity(64), &digest(secret))
}

/// `out` followed by `bytes` in lowercase hex.
fn hex(out: String, bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(out, |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A fresh secret: 32 bytes from the OS's random source, as `hive_` and 64
/// hex digits.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex(String::from("hive_"), &bytes))
}

#[cfg(test)]
mod tests;
