//! `sdk-compat`: the official `azure_messaging_eventhubs_checkpointstore_blob` 0.9.0 on the
//! command line, printing JSON, for the layout-compatibility test of entrastream's store.
//!
//! ```text
//! sdk-compat COMMAND --connection-string CS --container NAME --namespace FQNS --hub HUB --group CG [options]
//!   write-checkpoint --partition P [--offset O] [--sequence S]
//!   read-checkpoints
//!   claim --partition P --owner ID [--etag ETAG]
//!   list-ownership
//! ```
//! The connection string must carry `AccountName`, `AccountKey` and `BlobEndpoint` (Azurite's
//! explicit form). The SDK's blob client only takes a token credential (HTTPS only) or a SAS
//! URL, so this tool signs a container SAS from the account key.

use std::collections::HashMap;
use std::process::ExitCode;

use azure_core::http::{Etag, Url};
use azure_messaging_eventhubs::models::{Checkpoint, Ownership};
use azure_messaging_eventhubs::CheckpointStore;
use azure_messaging_eventhubs_checkpointstore_blob::BlobCheckpointStore;
use azure_storage_blob::BlobContainerClient;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SAS_VERSION: &str = "2021-08-06";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sdk-compat: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<Value, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or("missing command")?;
    let mut opts: HashMap<String, String> = HashMap::new();
    while let Some(k) = args.next() {
        let k = k
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {k}"))?
            .to_string();
        let v = args.next().ok_or(format!("--{k} needs a value"))?;
        opts.insert(k, v);
    }
    let get = |k: &str| opts.get(k).cloned().ok_or(format!("missing --{k}"));
    let store = store(&get("connection-string")?, &get("container")?)?;
    let (ns, hub, cg) = (get("namespace")?, get("hub")?, get("group")?);
    let err = |e: azure_core::Error| format!("{e}");
    match command.as_str() {
        "write-checkpoint" => {
            let checkpoint = Checkpoint {
                fully_qualified_namespace: ns,
                event_hub_name: hub,
                consumer_group: cg,
                partition_id: get("partition")?,
                offset: opts.get("offset").cloned(),
                sequence_number: match opts.get("sequence") {
                    Some(s) => Some(s.parse().map_err(|_| "bad --sequence")?),
                    None => None,
                },
            };
            store.update_checkpoint(checkpoint).await.map_err(err)?;
            Ok(json!({"ok": true}))
        }
        "read-checkpoints" => {
            let list = store.list_checkpoints(&ns, &hub, &cg).await.map_err(err)?;
            Ok(Value::Array(
                list.into_iter()
                    .map(|c| {
                        json!({
                            "partition_id": c.partition_id,
                            "offset": c.offset,
                            "sequence_number": c.sequence_number,
                        })
                    })
                    .collect(),
            ))
        }
        "claim" => {
            let ownership = Ownership {
                fully_qualified_namespace: ns,
                event_hub_name: hub,
                consumer_group: cg,
                partition_id: get("partition")?,
                owner_id: Some(get("owner")?),
                etag: opts.get("etag").map(|e| Etag::from(e.clone())),
                last_modified_time: None,
            };
            let won = store.claim_ownership(&[ownership]).await.map_err(err)?;
            Ok(ownerships(won))
        }
        "list-ownership" => {
            let list = store.list_ownerships(&ns, &hub, &cg).await.map_err(err)?;
            Ok(ownerships(list))
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn ownerships(list: Vec<Ownership>) -> Value {
    Value::Array(
        list.into_iter()
            .map(|o| {
                json!({
                    "partition_id": o.partition_id,
                    "owner_id": o.owner_id,
                    "etag": o.etag.map(|e| e.to_string()),
                    "last_modified_unix": o.last_modified_time.map(|t| t.unix_timestamp()),
                })
            })
            .collect(),
    )
}

/// The official store on a container URL with a freshly signed container SAS.
fn store(
    connection_string: &str,
    container: &str,
) -> Result<std::sync::Arc<BlobCheckpointStore>, String> {
    let mut account = None;
    let mut key = None;
    let mut endpoint = None;
    for part in connection_string.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or("connection string: expected key=value")?;
        match k.to_ascii_lowercase().as_str() {
            "accountname" => account = Some(v.to_string()),
            "accountkey" => key = Some(v.to_string()),
            "blobendpoint" => endpoint = Some(v.trim_end_matches('/').to_string()),
            _ => {}
        }
    }
    let account = account.ok_or("connection string: no AccountName")?;
    let key = B64
        .decode(key.ok_or("connection string: no AccountKey")?)
        .map_err(|_| "AccountKey is not base64")?;
    let endpoint = endpoint.ok_or("connection string: no BlobEndpoint")?;
    let expiry = "2099-01-01T00:00:00Z";
    let permissions = "racwdl";
    // Service SAS string-to-sign, version 2020-12-06 and later:
    // https://learn.microsoft.com/rest/api/storageservices/create-service-sas#version-2020-12-06-and-later
    let to_sign = [
        permissions,
        "",
        expiry,
        &format!("/blob/{account}/{container}"),
        "",
        "",
        "",
        SAS_VERSION,
        "c",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(to_sign.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    let mut url = Url::parse(&format!("{endpoint}/{container}")).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair("sv", SAS_VERSION)
        .append_pair("sr", "c")
        .append_pair("sp", permissions)
        .append_pair("se", expiry)
        .append_pair("sig", &sig);
    let client = BlobContainerClient::new(url, None, None).map_err(|e| e.to_string())?;
    Ok(BlobCheckpointStore::new(client))
}
