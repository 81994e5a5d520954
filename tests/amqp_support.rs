//! Peers and helpers of the AMQP tests: the in-repo Event Hubs peer on its own runtime,
//! traffic appended to it, daemon configs for the AMQP source, and the checkpoint store read
//! back through the same store code the daemon uses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use entrastream_eventhubs_peer::{EventHubsPeer, HubSpec, PeerConfig};
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_partition_store::{
    BlobStore, FileStore, HubKey, Ownership, PartitionStore, StoredCheckpoint,
};

use crate::support::Traffic;

/// The Event Hubs peer, served by a runtime of its own so the test thread stays synchronous.
pub struct Hub {
    rt: tokio::runtime::Runtime,
    /// The peer.
    pub peer: EventHubsPeer,
    /// The hub's name.
    pub name: String,
    /// Its partitions.
    pub partitions: usize,
}

impl Hub {
    /// A namespace with one hub of `partitions` partitions (and an extra consumer group
    /// `entrastream`), with the given retention.
    pub fn start(name: &str, partitions: usize, retention: Duration) -> Hub {
        Hub::start_in("localhost", name, partitions, retention)
    }

    /// Like [`Hub::start`] in a namespace of another host name (only a name: the daemon dials
    /// the peer's endpoint).
    pub fn start_in(host: &str, name: &str, partitions: usize, retention: Duration) -> Hub {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("peer runtime");
        let mut spec = HubSpec::new(name, partitions as u32);
        spec.retention = retention;
        spec.consumer_groups = vec!["entrastream".into()];
        let config = PeerConfig {
            host: host.to_string(),
            hubs: vec![spec],
            ..PeerConfig::default()
        };
        let peer = rt
            .block_on(EventHubsPeer::start(config))
            .expect("start the Event Hubs peer");
        Hub {
            rt,
            peer,
            name: name.to_string(),
            partitions,
        }
    }

    /// Runs a future on the peer's runtime (store reads in tests).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Appends `records` generated records in envelopes of up to 25, envelope `i` to
    /// partition `i % partitions`, extending `traffic` (sequence numbers = indices).
    pub fn produce(&self, traffic: &mut Traffic, records: usize, seed: u64) {
        self.produce_at(traffic, records, seed, None);
    }

    /// Like [`Hub::produce`] with a back-dated enqueue time.
    pub fn produce_at(
        &self,
        traffic: &mut Traffic,
        records: usize,
        seed: u64,
        enqueued: Option<SystemTime>,
    ) {
        append_generated(
            &self.peer,
            &self.name,
            self.partitions,
            traffic,
            records,
            seed,
            enqueued,
        );
    }

    /// The key of the hub in a store (the daemon uses the connection string's host).
    pub fn key(&self, consumer_group: &str) -> HubKey {
        HubKey::new(
            self.peer.fully_qualified_namespace(),
            &self.name,
            consumer_group,
        )
    }
}

/// Where the daemons under test keep checkpoints.
#[derive(Clone, Debug)]
pub enum Store {
    /// `[checkpoint] type = "file"`.
    File(PathBuf),
    /// `[checkpoint] type = "blob"` on Azurite.
    Blob {
        /// Azurite connection string.
        connection_string: String,
        /// Container (created by the test).
        container: String,
    },
}

impl Store {
    /// The same store the daemon opens.
    pub fn open(&self) -> Arc<dyn PartitionStore> {
        match self {
            Store::File(p) => Arc::new(FileStore::open(p).expect("file store")),
            Store::Blob {
                connection_string,
                container,
            } => Arc::new(
                BlobStore::from_connection_string(container, connection_string)
                    .expect("blob store"),
            ),
        }
    }

    fn section(&self) -> String {
        match self {
            Store::File(p) => format!(
                "[checkpoint]\ntype = \"file\"\npath = {:?}\n",
                p.display().to_string()
            ),
            Store::Blob { container, .. } => format!(
                "[checkpoint]\ntype = \"blob\"\ncontainer = \"{container}\"\nconnection_string_env = \"E2E_STORAGE_CONNECTION_STRING\"\n"
            ),
        }
    }
}

/// The setup every AMQP test starts from: a hub on the peer, a working directory, and where
/// the daemons keep checkpoints.
pub struct AmqpCase {
    /// The peer.
    pub hub: Hub,
    /// Records, dead letters, configs (and the file store).
    pub dir: tempfile::TempDir,
    /// The checkpoint store.
    pub store: Store,
}

impl AmqpCase {
    /// `hub` with a file checkpoint store in a fresh directory.
    pub fn file(hub: Hub) -> AmqpCase {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::File(dir.path().join("checkpoints"));
        AmqpCase { hub, dir, store }
    }

    /// `hub` with a blob checkpoint store in `container` of `azurite` (created here).
    pub fn blob(hub: Hub, azurite: &entrastream_testkit::Azurite, container: &str) -> AmqpCase {
        let connection_string = azurite.connection_string();
        let blob =
            BlobStore::from_connection_string(container, &connection_string).expect("blob store");
        hub.block_on(blob.create_container())
            .expect("create the checkpoint container");
        AmqpCase {
            hub,
            dir: tempfile::tempdir().expect("temp dir"),
            store: Store::Blob {
                connection_string,
                container: container.to_string(),
            },
        }
    }
}

/// Checkpointed sequence numbers per partition (-1 where none).
pub fn checkpoints(hub: &Hub, store: &Store, group: &str) -> Vec<i64> {
    let s = store.open();
    let list: Vec<StoredCheckpoint> = hub
        .block_on(s.list_checkpoints(&hub.key(group)))
        .expect("list checkpoints");
    (0..hub.partitions)
        .map(|p| {
            list.iter()
                .find(|c| c.partition_id == p.to_string())
                .and_then(|c| c.sequence_number)
                .unwrap_or(-1)
        })
        .collect()
}

/// Current owners per partition ("" where none), as the store lists them.
pub fn owners(hub: &Hub, store: &Store, group: &str, expiry: Duration) -> Vec<String> {
    let s = store.open();
    let list: Vec<Ownership> = hub
        .block_on(s.list_ownership(&hub.key(group)))
        .expect("list ownership");
    (0..hub.partitions)
        .map(|p| {
            list.iter()
                .find(|o| o.partition_id == p.to_string())
                .filter(|o| {
                    o.last_modified
                        .is_some_and(|t| t + expiry > SystemTime::now())
                })
                .map(|o| o.owner_id.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// How many partitions each owner holds.
pub fn shares(owners: &[String]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for o in owners.iter().filter(|o| !o.is_empty()) {
        *out.entry(o.clone()).or_insert(0) += 1;
    }
    out
}

/// A daemon config for the AMQP source on the peer.
pub struct AmqpDaemon<'a> {
    /// Working directory (records, dead letters, config).
    pub dir: &'a Path,
    /// Name: file prefix and owner id.
    pub name: &'a str,
    /// The peer.
    pub hub: &'a Hub,
    /// The checkpoint store.
    pub store: &'a Store,
    /// Consumer group.
    pub group: &'a str,
    /// Extra `[source]` lines.
    pub source_extra: &'a str,
    /// Extra `[pipeline]` lines.
    pub pipeline_extra: &'a str,
    /// `[admin] listen` (disabled when None).
    pub admin: Option<&'a str>,
}

impl<'a> AmqpDaemon<'a> {
    /// A daemon of consumer group `$Default` with no extra keys and no admin server; tests
    /// change what they need with struct update syntax.
    pub fn new(dir: &'a Path, name: &'a str, hub: &'a Hub, store: &'a Store) -> Self {
        AmqpDaemon {
            dir,
            name,
            hub,
            store,
            group: "$Default",
            source_extra: "",
            pipeline_extra: "",
            admin: None,
        }
    }

    /// Writes the config file and returns its path.
    pub fn write(&self) -> PathBuf {
        let admin = match self.admin {
            Some(a) => format!("[admin]\nlisten = \"{a}\"\n"),
            None => "[admin]\nenabled = false\n".into(),
        };
        let text = format!(
            r#"
[log]
format = "json"
level = "info"

[source]
type = "amqp"
connection_string_env = "E2E_EVENTHUB_CONNECTION_STRING"
custom_endpoint = "{endpoint}"
consumer_group = "{group}"
start_position = "earliest"
owner_id = "{name}"
update_interval = "1s"
ownership_expiry = "4s"
properties_interval = "1s"
{source_extra}

[pipeline]
checkpoint_interval = "1s"
drain_timeout = "3s"
shutdown_timeout = "15s"
{pipeline_extra}

[[sinks]]
name = "file"
type = "file"
path = "{records}"
schema = "native"
rotate_bytes = 0

[dead_letter]
path = "{dl}"
rotate_bytes = 0

{store}
{admin}
"#,
            endpoint = self.hub.peer.endpoint(),
            group = self.group,
            name = self.name,
            source_extra = self.source_extra,
            pipeline_extra = self.pipeline_extra,
            records = self.records().display(),
            dl = self
                .dir
                .join(format!("{}-dead-letter.ndjson", self.name))
                .display(),
            store = self.store.section(),
        );
        let path = self.dir.join(format!("{}.toml", self.name));
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Its records file.
    pub fn records(&self) -> PathBuf {
        self.dir.join(format!("{}-records.ndjson", self.name))
    }

    /// The environment the daemon needs (connection strings).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "E2E_EVENTHUB_CONNECTION_STRING".to_string(),
            self.hub.peer.connection_string(&self.hub.name),
        )];
        if let Store::Blob {
            connection_string, ..
        } = self.store
        {
            env.push((
                "E2E_STORAGE_CONNECTION_STRING".into(),
                connection_string.clone(),
            ));
        }
        env
    }
}

/// Where each generated id lives: (partition, sequence number).
pub fn positions(traffic: &Traffic) -> HashMap<String, (usize, i64)> {
    let mut out = HashMap::new();
    for (p, msgs) in traffic.messages.iter().enumerate() {
        for (seq, ids) in msgs.iter().enumerate() {
            for id in ids {
                out.insert(id.clone(), (p, seq as i64));
            }
        }
    }
    out
}

/// Adds traffic appended by another producer (its sequence numbers are the peer's).
pub fn merge(into: &mut Traffic, from: Traffic) {
    if into.messages.len() < from.messages.len() {
        into.messages.resize(from.messages.len(), Vec::new());
    }
    for (p, msgs) in from.messages.into_iter().enumerate() {
        for (seq, ids) in msgs.into_iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            if into.messages[p].len() <= seq {
                into.messages[p].resize(seq + 1, Vec::new());
            }
            into.messages[p][seq] = ids;
        }
    }
    into.records += from.records;
    into.max_message = into.max_message.max(from.max_message);
}

/// Ids in the part of an NDJSON file after byte `offset` (what was written since then).
pub fn ids_after(path: &Path, offset: u64) -> HashMap<String, usize> {
    use std::io::{Read, Seek, SeekFrom};
    let mut out = HashMap::new();
    let Ok(mut f) = std::fs::File::open(path) else {
        return out;
    };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return out;
    }
    let mut text = String::new();
    if f.read_to_string(&mut text).is_ok() {
        crate::support::count_ids(&text, &mut out);
    }
    out
}

/// Size of a file (0 when missing).
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Appends `records` generated records in envelopes of up to 25 to `hub`, envelope `i` to
/// partition `i % partitions`, recording in `traffic` which ids each sequence number carries.
/// Callable from any thread (the peer handle is Send + Sync).
pub fn append_generated(
    peer: &EventHubsPeer,
    hub: &str,
    partitions: usize,
    traffic: &mut Traffic,
    records: usize,
    seed: u64,
    enqueued: Option<SystemTime>,
) {
    if traffic.messages.len() < partitions {
        traffic.messages.resize(partitions, Vec::new());
    }
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let mut buf = Vec::new();
    let mut made = 0;
    let mut i = traffic.messages.iter().map(Vec::len).sum::<usize>();
    while made < records {
        buf.clear();
        generator.next_envelope_with(25.min(records - made), &mut buf);
        let ids = crate::support::record_ids(&buf);
        made += ids.len();
        let p = i % partitions;
        let appended = match enqueued {
            Some(t) => peer.append_at(hub, &p.to_string(), buf.clone(), t),
            None => peer.append(hub, &p.to_string(), buf.clone()),
        };
        let seq = usize::try_from(appended.sequence_number).expect("sequence number");
        if traffic.messages[p].len() <= seq {
            traffic.messages[p].resize(seq + 1, Vec::new());
        }
        traffic.messages[p][seq] = ids;
        traffic.max_message = traffic.max_message.max(buf.len());
        i += 1;
    }
    traffic.records += made;
}
