//! Splitting a batch into requests: grouped by category (`X-Sumo-Category` is per request),
//! each at most `max_request_bytes`; a record larger than that alone is rejected.

use std::collections::BTreeMap;

use entrastream_sink::{EncodedBatch, RejectReason, Rejection};
use entrastream_sink_http::even_requests;

use crate::{SumoSink, sumo_category};

#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) category: String,
    pub(crate) indices: Vec<usize>,
}

impl SumoSink {
    pub(crate) fn plan(
        &self,
        batch: &EncodedBatch,
        todo: &[usize],
    ) -> (Vec<Chunk>, Vec<Rejection>) {
        let max = self.cfg.max_request_bytes;
        let mut by_cat: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in todo {
            let cat = match &self.cfg.category {
                Some(c) => c.clone(),
                None => sumo_category(&batch.records[i].category),
            };
            by_cat.entry(cat).or_default().push(i);
        }
        let mut chunks = Vec::new();
        let mut rejections = Vec::new();
        for (category, idx) in by_cat {
            let (requests, oversize) = even_requests(batch, idx, max);
            rejections.extend(oversize.into_iter().map(|i| Rejection {
                index: i,
                reason: RejectReason::Oversize(format!(
                    "record of {} bytes is above the Sumo Logic request limit ({max} bytes); not truncated",
                    batch.records[i].range.len()
                )),
            }));
            chunks.extend(requests.into_iter().map(|indices| Chunk {
                category: category.clone(),
                indices,
            }));
        }
        (chunks, rejections)
    }
}
