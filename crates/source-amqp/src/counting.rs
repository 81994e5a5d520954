//! A store wrapper that counts requests by operation and outcome
//! (`entrastream_checkpoint_store_requests_total`): storage traffic is a cost users watch.

use std::sync::Arc;

use async_trait::async_trait;
use entrastream_partition_store::{
    HubKey, Ownership, PartitionStore, StoreError, StoredCheckpoint,
};

use crate::metrics::AmqpMetrics;

/// Counts every call to the inner store.
#[derive(Debug)]
pub(crate) struct CountingStore {
    inner: Arc<dyn PartitionStore>,
    metrics: AmqpMetrics,
}

impl CountingStore {
    pub(crate) fn new(inner: Arc<dyn PartitionStore>, metrics: AmqpMetrics) -> Self {
        CountingStore { inner, metrics }
    }

    fn count<T>(&self, operation: &str, requests: usize, r: &Result<T, StoreError>) {
        let outcome = if r.is_ok() { "ok" } else { "error" };
        self.metrics
            .store_requests
            .with_label_values(&[operation, outcome])
            .inc_by(requests as u64);
    }
}

#[async_trait]
impl PartitionStore for CountingStore {
    async fn list_ownership(&self, hub: &HubKey) -> Result<Vec<Ownership>, StoreError> {
        let r = self.inner.list_ownership(hub).await;
        self.count("list_ownership", 1, &r);
        r
    }

    async fn claim_ownership(
        &self,
        hub: &HubKey,
        claims: Vec<Ownership>,
    ) -> Result<Vec<Ownership>, StoreError> {
        // One conditional write per claim.
        let n = claims.len();
        let r = self.inner.claim_ownership(hub, claims).await;
        self.count("claim_ownership", n, &r);
        r
    }

    async fn list_checkpoints(&self, hub: &HubKey) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let r = self.inner.list_checkpoints(hub).await;
        self.count("list_checkpoints", 1, &r);
        r
    }

    async fn update_checkpoint(
        &self,
        hub: &HubKey,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        let r = self.inner.update_checkpoint(hub, checkpoint).await;
        self.count("update_checkpoint", 1, &r);
        r
    }

    fn describe(&self) -> serde_json::Value {
        self.inner.describe()
    }
}
