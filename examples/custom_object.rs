//! Registering your own object kind.
//!
//! A `ledger` object keeps a running balance per account; agents send it
//! `{"op":"post","account":"a","amount":5}` and get the new balance back.
//! Run: `cargo run --example custom_object`

use std::collections::BTreeMap;
use std::time::Duration;

use hive::objects::{ObjectError, ObjectHandler, ObjectKind, ObjectKinds};
use hive::{Hive, HiveOptions, config};
use serde_json::{Value, json};

/// The factory: one per kind, registered once.
struct LedgerKind;

/// One live ledger. It runs inside its own actor, so `&mut self` is all the
/// synchronisation it needs.
struct Ledger {
    limit: i64,
    balances: BTreeMap<String, i64>,
}

impl ObjectKind for LedgerKind {
    fn name(&self) -> &str {
        "ledger"
    }

    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, ObjectError> {
        let limit = config.get("limit").and_then(Value::as_i64).unwrap_or(1_000);
        Ok(Box::new(Ledger { limit, balances: BTreeMap::new() }))
    }
}

impl ObjectHandler for Ledger {
    fn handle(&mut self, _from: &str, request: Value) -> Result<Value, ObjectError> {
        let account = request["account"].as_str().ok_or_else(|| ObjectError::request("missing 'account'"))?;
        match request["op"].as_str() {
            Some("post") => {
                let amount =
                    request["amount"].as_i64().ok_or_else(|| ObjectError::request("missing integer 'amount'"))?;
                let balance = self.balances.entry(account.to_string()).or_default();
                let next = balance.checked_add(amount).ok_or_else(|| ObjectError::refused("overflow"))?;
                if next.abs() > self.limit {
                    return Err(ObjectError::refused(format!("balance would exceed the limit of {}", self.limit)));
                }
                *balance = next;
                Ok(json!({"balance": next}))
            }
            Some("balance") => Ok(json!({"balance": self.balances.get(account).copied().unwrap_or(0)})),
            _ => Err(ObjectError::request("op must be 'post' or 'balance'")),
        }
    }

    fn state(&self) -> Value {
        json!({"balances": self.balances, "limit": self.limit})
    }

    fn configure(&mut self, config: &Value) -> Result<(), ObjectError> {
        self.limit = config
            .get("limit")
            .and_then(Value::as_i64)
            .ok_or_else(|| ObjectError::config("limit must be an integer"))?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut kinds = ObjectKinds::default();
    kinds.register(LedgerKind);
    let hive = Hive::start(HiveOptions { kinds, ..HiveOptions::default() }).await?;

    let spec = config::parse_toml(
        r#"
name = "bank"
[[agents]]
name = "teller"
[[objects]]
name = "books"
kind = "ledger"
config = { limit = 100 }
[topology]
teller = ["books"]
"#,
        &hive.validate_options(),
    )?;
    let swarm = hive.start_swarm(spec).await?;
    swarm.send_message("teller", "books", r#"{"op":"post","account":"alice","amount":40}"#).await?;
    swarm.send_message("teller", "books", r#"{"op":"post","account":"alice","amount":80}"#).await?;

    // The ledger answers the teller; wait until both answers are in its history.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let history = swarm.history("teller", 10).await?;
        let replies: Vec<_> = history.iter().filter(|h| h.kind == "reply").collect();
        if replies.len() == 2 {
            for r in replies {
                println!("books answered: {}", r.content);
            }
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err("the ledger did not answer".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("state: {}", swarm.object_state("books").await?);
    hive.shutdown().await;
    Ok(())
}
