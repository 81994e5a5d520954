use std::collections::BTreeMap;
use std::sync::Arc;

use entrastream_partition_store::{
    BlobStore, HubKey, Ownership, PartitionStore, StoreError, StoredCheckpoint,
};

use crate::support::{Azurite, DEV_KEY, SERIAL, hub};

#[tokio::test]
async fn list_claim_update_round_trip() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = crate::support::store(&azurite, "ckpt").await;
    store.check_access().await.expect("access check");
    assert!(
        !store.create_container().await.unwrap(),
        "second create reports it existed"
    );
    assert!(store.list_ownership(&hub()).await.unwrap().is_empty());
    assert!(store.list_checkpoints(&hub()).await.unwrap().is_empty());

    let won = store
        .claim_ownership(
            &hub(),
            vec![
                Ownership::new("0", "owner-a"),
                Ownership::new("1", "owner-a"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(won.len(), 2);
    for o in &won {
        assert!(
            o.etag.as_deref().is_some_and(|e| e.starts_with('"')),
            "{o:?}"
        );
        assert!(o.last_modified.is_some());
    }
    let mut listed = store.list_ownership(&hub()).await.unwrap();
    listed.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
    assert_eq!(
        listed
            .iter()
            .map(|o| (&o.partition_id[..], &o.owner_id[..]))
            .collect::<Vec<_>>(),
        [("0", "owner-a"), ("1", "owner-a")]
    );
    // Listing and claim answer agree on the version (one etag form).
    assert_eq!(
        listed[0].etag,
        won.iter().find(|o| o.partition_id == "0").unwrap().etag
    );

    // Relinquish: an empty owner id is stored and listed as empty.
    let rel = Ownership {
        owner_id: String::new(),
        ..listed[0].clone()
    };
    assert_eq!(
        store
            .claim_ownership(&hub(), vec![rel])
            .await
            .unwrap()
            .len(),
        1
    );
    let listed = store.list_ownership(&hub()).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|o| o.partition_id == "0")
            .unwrap()
            .owner_id,
        ""
    );

    // Checkpoints: first write creates the blob, later writes replace the metadata.
    let c = StoredCheckpoint {
        partition_id: "0".into(),
        offset: Some("4294967296".into()),
        sequence_number: Some(12),
    };
    store.update_checkpoint(&hub(), &c).await.unwrap();
    let c2 = StoredCheckpoint {
        offset: Some("4294967400".into()),
        sequence_number: Some(13),
        ..c.clone()
    };
    store.update_checkpoint(&hub(), &c2).await.unwrap();
    let geo = StoredCheckpoint {
        partition_id: "1".into(),
        offset: Some("1:200:17".into()),
        sequence_number: None,
    };
    store.update_checkpoint(&hub(), &geo).await.unwrap();
    let mut cps = store.list_checkpoints(&hub()).await.unwrap();
    cps.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
    assert_eq!(cps, vec![c2.clone(), geo]);

    // Refused: a checkpoint that would erase the stored one (azure-sdk-for-rust#5097).
    let empty = StoredCheckpoint {
        partition_id: "0".into(),
        offset: None,
        sequence_number: None,
    };
    assert!(matches!(
        store.update_checkpoint(&hub(), &empty).await,
        Err(StoreError::EmptyCheckpoint { .. })
    ));
    assert!(store.list_checkpoints(&hub()).await.unwrap().contains(&c2));

    // Case: lower-cased blob names by default, so a mixed-case hub key lands on the same blobs.
    let upper = HubKey::new("NS1.servicebus.windows.net", "Entra-Logs", "$Default");
    assert_eq!(store.list_checkpoints(&upper).await.unwrap().len(), 2);
    let keep_case = BlobStore::from_connection_string("ckpt", &azurite.connection_string())
        .unwrap()
        .lowercase_names(false);
    assert!(keep_case.list_checkpoints(&upper).await.unwrap().is_empty());
    assert!(store.describe().to_string().contains("azure_blob"));
}

#[tokio::test]
async fn conditional_semantics() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = crate::support::store(&azurite, "cond").await;
    // Create-if-absent twice: exactly one winner.
    let first = store
        .claim_ownership(&hub(), vec![Ownership::new("7", "a")])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let second = store
        .claim_ownership(&hub(), vec![Ownership::new("7", "b")])
        .await
        .unwrap();
    assert!(second.is_empty(), "409 is a lost race, not an error");
    // If-Match with the current version wins and changes it; the old version then loses.
    let current = first[0].clone();
    let b = Ownership {
        owner_id: "b".into(),
        ..current.clone()
    };
    let won = store
        .claim_ownership(&hub(), vec![b.clone()])
        .await
        .unwrap();
    assert_eq!(won.len(), 1);
    assert_ne!(won[0].etag, current.etag);
    let stale = Ownership {
        owner_id: "a".into(),
        ..current
    };
    assert!(
        store
            .claim_ownership(&hub(), vec![stale])
            .await
            .unwrap()
            .is_empty(),
        "412 is a lost race"
    );
    // A claim on a version of a blob that does not exist (deleted) loses too.
    let ghost = Ownership {
        etag: Some("\"0x8D0000000000000\"".into()),
        ..Ownership::new("8", "a")
    };
    assert!(
        store
            .claim_ownership(&hub(), vec![ghost])
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store.list_ownership(&hub()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].owner_id, "b");
    assert_eq!(listed[0].etag, won[0].etag);
}

/// Issue test 3: 8 tasks race to claim the same 32 partitions; exactly one winner each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_tasks_racing_for_32_partitions_have_one_winner_each() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = Arc::new(crate::support::store(&azurite, "race").await);
    // Round 1: create-if-absent races. Round 2: everyone re-claims with the version it last
    // listed (If-Match races).
    for round in 0..2 {
        let listed: BTreeMap<String, Ownership> = store
            .list_ownership(&hub())
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.partition_id.clone(), o))
            .collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            let barrier = barrier.clone();
            let listed = listed.clone();
            tasks.push(tokio::spawn(async move {
                // Each task walks the partitions from a different start, so races happen on
                // every partition rather than in lock-step.
                let claims: Vec<Ownership> = (0..32)
                    .map(|i| ((i + t * 4) % 32).to_string())
                    .map(|p| Ownership {
                        etag: listed.get(&p).and_then(|o| o.etag.clone()),
                        ..Ownership::new(p, format!("task-{t}"))
                    })
                    .collect();
                barrier.wait().await;
                store.claim_ownership(&hub(), claims).await.unwrap()
            }));
        }
        let mut winners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in tasks {
            for o in t.await.unwrap() {
                winners.entry(o.partition_id).or_default().push(o.owner_id);
            }
        }
        assert_eq!(
            winners.len(),
            32,
            "round {round}: every partition has a winner"
        );
        for (p, w) in &winners {
            assert_eq!(w.len(), 1, "round {round}: partition {p} won by {w:?}");
        }
        let listed = store.list_ownership(&hub()).await.unwrap();
        for o in listed {
            assert_eq!(
                winners[&o.partition_id],
                vec![o.owner_id.clone()],
                "store agrees with the winners"
            );
        }
    }
}

#[tokio::test]
async fn access_checks_name_the_fix_and_never_the_secret() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    // Missing container.
    let store = BlobStore::from_connection_string("missing", &azurite.connection_string()).unwrap();
    let e = store.check_access().await.unwrap_err();
    assert!(matches!(e, StoreError::ContainerNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("create the container"), "{e}");
    assert!(!e.is_retryable());
    let e = store.list_ownership(&hub()).await.unwrap_err();
    assert!(matches!(e, StoreError::ContainerNotFound { .. }), "{e:?}");

    // Wrong key (valid base64, wrong bytes).
    crate::support::store(&azurite, "keyed").await;
    let wrong_key = "V1JPTkctS0VZLVNFQ1JFVC1WQUxVRS0xMjM0NTY3ODkwYWJjZGVm";
    let cs = azurite.connection_string().replace(DEV_KEY, wrong_key);
    let store = BlobStore::from_connection_string("keyed", &cs).unwrap();
    let e = store.check_access().await.unwrap_err();
    let shown = format!("{e} {e:?} {store:?}");
    eprintln!("wrong key -> {e}");
    assert!(shown.contains("check the account key"), "{shown}");
    assert!(
        !shown.contains(wrong_key) && !shown.contains(DEV_KEY),
        "{shown}"
    );
    let e = store
        .update_checkpoint(
            &hub(),
            &StoredCheckpoint {
                partition_id: "0".into(),
                offset: Some("1".into()),
                sequence_number: None,
            },
        )
        .await
        .unwrap_err();
    assert!(!format!("{e} {e:?}").contains(wrong_key));
    // A debug print of the good store shows no key either.
    let good = crate::support::store(&azurite, "keyed").await;
    assert!(!format!("{good:?}").contains(DEV_KEY));
}

/// BlobStore's own counters at 32 partitions: what a cycle and a checkpoint cost on the wire.
#[tokio::test]
async fn requests_per_cycle_on_the_wire() {
    use entrastream_partition_store::{BalancerConfig, LoadBalancer, Strategy};
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = Arc::new(crate::support::store(&azurite, "count").await);
    let all = crate::support::partitions(32);
    let config = BalancerConfig {
        strategy: Strategy::Greedy,
        ..BalancerConfig::new("counter")
    };
    let mut lb = LoadBalancer::new(store.clone(), hub(), config).unwrap();
    let before = store.requests();
    assert_eq!(lb.cycle(&all).await.unwrap().len(), 32);
    let first = store.requests().since(before);
    let before = store.requests();
    lb.cycle(&all).await.unwrap();
    let steady = store.requests().since(before);
    let before = store.requests();
    let owned = lb.still_owns(&all).await.unwrap();
    assert_eq!(owned.len(), 32);
    let check = store.requests().since(before);
    let cp = StoredCheckpoint {
        partition_id: "5".into(),
        offset: Some("100".into()),
        sequence_number: Some(9),
    };
    let before = store.requests();
    store.update_checkpoint(&hub(), &cp).await.unwrap();
    let first_cp = store.requests().since(before);
    let before = store.requests();
    store.update_checkpoint(&hub(), &cp).await.unwrap();
    let next_cp = store.requests().since(before);
    eprintln!(
        "WIRE REQUESTS at 32 partitions: first cycle {first:?}, steady cycle {steady:?}, still_owns {check:?}, first checkpoint {first_cp:?}, next checkpoint {next_cp:?}"
    );
    assert_eq!((first.list, first.put, first.set_metadata), (1, 32, 0));
    assert_eq!((steady.list, steady.put, steady.set_metadata), (1, 0, 32));
    assert_eq!(check.total(), 1);
    assert_eq!((first_cp.put, first_cp.set_metadata), (1, 1));
    assert_eq!(next_cp.total(), 1);
}
