//! Issue test 4: the blobs we write are the blobs the official store reads, and back.

use std::path::PathBuf;
use std::process::Command;

use entrastream_partition_store::{Ownership, PartitionStore, StoredCheckpoint};
use serde_json::Value;

use crate::support::{Azurite, SERIAL, hub, peer_missing};

fn sdk_binary() -> Option<PathBuf> {
    let p = match std::env::var_os("ENTRASTREAM_SDK_COMPAT_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/sdk-compat/target/debug/sdk-compat"),
    };
    p.is_file().then_some(p)
}

struct Sdk {
    bin: PathBuf,
    connection_string: String,
    container: String,
}

impl Sdk {
    fn run(&self, args: &[&str]) -> Value {
        let h = hub();
        let out = Command::new(&self.bin)
            .args(args)
            .args([
                "--connection-string",
                &self.connection_string,
                "--container",
                &self.container,
            ])
            .args([
                "--namespace",
                &h.fully_qualified_namespace,
                "--hub",
                &h.event_hub,
                "--group",
                &h.consumer_group,
            ])
            .output()
            .expect("run sdk-compat");
        assert!(
            out.status.success(),
            "sdk-compat {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sdk-compat prints JSON")
    }
}

fn by_partition(v: &Value) -> std::collections::BTreeMap<String, Value> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|e| (e["partition_id"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

#[tokio::test]
async fn official_store_and_ours_read_each_others_blobs() {
    let Some(bin) = sdk_binary() else {
        peer_missing(
            "tests/sdk-compat binary (cargo build --manifest-path tests/sdk-compat/Cargo.toml, or ENTRASTREAM_SDK_COMPAT_BIN)",
        );
        return;
    };
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = crate::support::store(&azurite, "compat").await;
    let sdk = Sdk {
        bin,
        connection_string: azurite.connection_string(),
        container: "compat".into(),
    };

    // Ours -> SDK.
    store
        .update_checkpoint(
            &hub(),
            &StoredCheckpoint {
                partition_id: "0".into(),
                offset: Some("8589934592".into()),
                sequence_number: Some(4711),
            },
        )
        .await
        .unwrap();
    store
        .update_checkpoint(
            &hub(),
            &StoredCheckpoint {
                partition_id: "1".into(),
                offset: Some("geo:1:77".into()),
                sequence_number: None,
            },
        )
        .await
        .unwrap();
    let won = store
        .claim_ownership(&hub(), vec![Ownership::new("0", "entrastream-a")])
        .await
        .unwrap();
    assert_eq!(won.len(), 1);
    let cps = by_partition(&sdk.run(&["read-checkpoints"]));
    assert_eq!(cps["0"]["offset"], "8589934592");
    assert_eq!(cps["0"]["sequence_number"], 4711);
    assert_eq!(cps["1"]["offset"], "geo:1:77");
    assert!(cps["1"]["sequence_number"].is_null());
    let owners = by_partition(&sdk.run(&["list-ownership"]));
    assert_eq!(owners["0"]["owner_id"], "entrastream-a");
    // Same version and heartbeat on both sides.
    let sdk_etag = owners["0"]["etag"]
        .as_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert_eq!(won[0].etag.as_deref().unwrap().trim_matches('"'), sdk_etag);
    let lm = won[0]
        .last_modified
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(owners["0"]["last_modified_unix"], lm);

    // The SDK claims with the version we hold (it steals from us): we lose ours.
    let stolen = sdk.run(&[
        "claim",
        "--partition",
        "0",
        "--owner",
        "sdk-b",
        "--etag",
        &sdk_etag,
    ]);
    assert_eq!(stolen.as_array().unwrap().len(), 1, "{stolen}");
    let listed = store.list_ownership(&hub()).await.unwrap();
    assert_eq!(listed[0].owner_id, "sdk-b");
    assert!(
        store
            .claim_ownership(&hub(), won.clone())
            .await
            .unwrap()
            .is_empty(),
        "our stale version loses"
    );

    // SDK -> ours.
    sdk.run(&[
        "write-checkpoint",
        "--partition",
        "2",
        "--offset",
        "12345",
        "--sequence",
        "99",
    ]);
    sdk.run(&[
        "write-checkpoint",
        "--partition",
        "0",
        "--offset",
        "8589935000",
        "--sequence",
        "4800",
    ]);
    let first = sdk.run(&["claim", "--partition", "3", "--owner", "sdk-b"]);
    assert_eq!(first.as_array().unwrap().len(), 1, "{first}");
    // The SDK's create-if-absent loses against an existing blob, as ours does.
    let again = sdk.run(&["claim", "--partition", "3", "--owner", "sdk-c"]);
    assert!(again.as_array().unwrap().is_empty(), "{again}");
    let mut cps = store.list_checkpoints(&hub()).await.unwrap();
    cps.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
    assert_eq!(
        cps,
        vec![
            StoredCheckpoint {
                partition_id: "0".into(),
                offset: Some("8589935000".into()),
                sequence_number: Some(4800)
            },
            StoredCheckpoint {
                partition_id: "1".into(),
                offset: Some("geo:1:77".into()),
                sequence_number: None
            },
            StoredCheckpoint {
                partition_id: "2".into(),
                offset: Some("12345".into()),
                sequence_number: Some(99)
            },
        ]
    );
    let listed = store.list_ownership(&hub()).await.unwrap();
    let p3 = listed.iter().find(|o| o.partition_id == "3").unwrap();
    assert_eq!(p3.owner_id, "sdk-b");
    assert_eq!(
        p3.etag.as_deref().unwrap().trim_matches('"'),
        first[0]["etag"].as_str().unwrap().trim_matches('"')
    );
    // And we take it back with the version the SDK wrote.
    let back = Ownership {
        owner_id: "entrastream-a".into(),
        ..p3.clone()
    };
    assert_eq!(
        store
            .claim_ownership(&hub(), vec![back])
            .await
            .unwrap()
            .len(),
        1
    );
    let owners = by_partition(&sdk.run(&["list-ownership"]));
    assert_eq!(owners["3"]["owner_id"], "entrastream-a");
}
