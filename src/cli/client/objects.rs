//! Object commands: `objects NAME` (a table with each object's live state)
//! and `objects add|get|config|remove`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::agents::{AddArgs, read_entry};
use super::control::one_line;
use super::table::Table;
use super::wire::{ApiList, Named, ObjectState, ObjectView, decode, list_of, value_cell};
use super::{Client, ClientError};

/// `hive objects` arguments.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct ObjectsArgs {
    #[command(subcommand)]
    cmd: Option<ObjectsCmd>,
    /// List this swarm's objects.
    #[arg(required = true)]
    name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ObjectsCmd {
    /// Add an object to a running swarm.
    Add(AddArgs),
    /// Print an object's live state (JSON).
    Get {
        /// The swarm.
        name: String,
        /// The object.
        object: String,
    },
    /// Replace an object's configuration (its kind checks it).
    Config {
        /// The swarm.
        name: String,
        /// The object.
        object: String,
        /// The whole configuration: a JSON object, or @FILE (JSON, or TOML by extension).
        #[arg(value_name = "CONFIG")]
        config: String,
    },
    /// Remove an object.
    Remove {
        /// The swarm.
        name: String,
        /// The object.
        object: String,
    },
}

/// `hive objects ...`.
pub(crate) async fn run(c: &Client, a: &ObjectsArgs) -> Result<(), ClientError> {
    match (&a.cmd, &a.name) {
        (Some(ObjectsCmd::Add(add)), _) => {
            let v = c.post(&["api", "swarms", &add.name, "objects"], &add.body()?).await?;
            if c.json {
                c.print_json(&v);
            } else {
                println!("added to '{}': {}", add.name, decode::<Named>(&v)?.all("the object").join(", "));
            }
            Ok(())
        }
        (Some(ObjectsCmd::Get { name, object }), _) => {
            let v = c.get(&["api", "swarms", name, "objects", object], &[]).await?;
            if c.json {
                c.print_json(&v);
            } else {
                let s: ObjectState = decode(&v)?;
                println!("{}", serde_json::to_string_pretty(&s.state).unwrap_or_default());
            }
            Ok(())
        }
        (Some(ObjectsCmd::Config { name, object, config }), _) => {
            let config = Value::Object(read_entry(config)?);
            let v = c.patch(&["api", "swarms", name, "objects", object, "config"], &json!({"config": config})).await?;
            if c.json {
                c.print_json(&v);
            } else {
                println!("object '{object}' of '{name}' configured");
            }
            Ok(())
        }
        (Some(ObjectsCmd::Remove { name, object }), _) => {
            let v = c.delete(&["api", "swarms", name, "objects", object], &[]).await?;
            if c.json {
                c.print_json(&v);
            } else {
                println!("removed from '{name}': {}", decode::<Named>(&v)?.all(object).join(", "));
            }
            Ok(())
        }
        (None, Some(name)) => list(c, name).await,
        (None, None) => Err(ClientError::Other("name a swarm: hive objects NAME".into())),
    }
}

async fn list(c: &Client, name: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "objects"], &[("limit", "1000".into())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let objects: Vec<ObjectView> = list_of(&v, ApiList::Objects)?;
    let mut t = Table::new(&["OBJECT", "KIND", "STATE", "RESTARTS", "INBOX", "DATA"]);
    for o in objects {
        t.row(vec![
            o.name,
            o.kind,
            value_cell(&o.state),
            o.restarts.to_string(),
            o.inbox.to_string(),
            one_line(&o.data.to_string(), 60),
        ]);
    }
    if t.is_empty() {
        println!("no objects")
    } else {
        t.print()
    }
    Ok(())
}
