use entrastream_partition_store::{BlobStore, HubKey};

pub use entrastream_testkit::{AZURITE_DEV_KEY as DEV_KEY, Azurite, peer_missing};

/// Azurite starts node and takes ~1 s of CPU: run one at a time on shared 2-core machines.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A store on `container` of `azurite`, creating the container through the REST API.
pub async fn store(azurite: &Azurite, container: &str) -> BlobStore {
    let store = BlobStore::from_connection_string(container, &azurite.connection_string())
        .expect("store from connection string");
    store.create_container().await.expect("create container");
    store
}

/// A hub with lower-case names (the official Rust store keeps case; .NET lower-cases).
pub fn hub() -> HubKey {
    HubKey::new("ns1.servicebus.windows.net", "entra-logs", "$default")
}

pub fn partitions(n: usize) -> Vec<String> {
    (0..n).map(|p| p.to_string()).collect()
}
