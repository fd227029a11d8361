//! A [`Txn`] as one etcd transaction: compares on `mod_revision`, the ops in the success branch, and in the failure
//! branch a keys-only read of every compared key, so a conflict names the first failed key and its actual revision
//! as read at the revision the compares were evaluated at.

use super::config::EtcdConfig;
use crate::{Compare, Op, StoreError, Txn, TxnOutcome};
use etcd_client::{Compare as EtcdCompare, CompareOp, GetOptions, Txn as EtcdTxn, TxnOp, TxnOpResponse, TxnResponse};

/// Bytes etcd's request framing adds per compare or operation, on top of keys and values (protobuf tags, lengths,
/// the revision): a generous bound, so an estimate under the limit is under it on the wire too.
const PER_ITEM_OVERHEAD: usize = 32;

/// Keeps only the last write of each key, in the order those last writes came. etcd refuses a transaction that
/// writes one key twice; the result after it is the same.
pub(crate) fn last_write_per_key(ops: Vec<Op>) -> Vec<Op> {
    let mut kept: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops.into_iter().rev() {
        let key = op_key(&op);
        if !kept.iter().any(|k| op_key(k) == key) {
            kept.push(op);
        }
    }
    kept.reverse();
    kept
}

fn op_key(op: &Op) -> &str {
    match op {
        Op::Put { key, .. } | Op::Delete { key } => key,
    }
}

/// Refuses a transaction etcd would refuse for its size or its number of compares or operations, with a message
/// that says which limit and how to raise it, before anything is sent.
pub(crate) fn check_limits(txn: &Txn, prefix_len: usize, config: &EtcdConfig) -> Result<(), StoreError> {
    let items = txn.compares.len().max(txn.ops.len());
    if items > config.max_txn_ops {
        return Err(StoreError::TooLarge {
            detail: format!(
                "{} compares and {} operations, over etcd's --max-txn-ops of {} (raise it on every member and in the \
                 store's max-txn-ops option)",
                txn.compares.len(),
                txn.ops.len(),
                config.max_txn_ops
            ),
        });
    }
    let bytes = request_bytes(txn, prefix_len);
    if bytes > config.max_request_bytes {
        return Err(StoreError::TooLarge {
            detail: format!(
                "about {bytes} bytes, over etcd's --max-request-bytes of {} (raise it on every member and in the \
                 store's max-request-bytes option)",
                config.max_request_bytes
            ),
        });
    }
    Ok(())
}

/// An upper estimate of the request's size on the wire: compares are sent twice (as compares and as the failure
/// branch's reads).
fn request_bytes(txn: &Txn, prefix_len: usize) -> usize {
    let compares: usize = txn
        .compares
        .iter()
        .map(|Compare::ModRevision { key, .. }| 2 * (prefix_len + key.len() + PER_ITEM_OVERHEAD))
        .sum();
    let ops: usize = txn
        .ops
        .iter()
        .map(|op| match op {
            Op::Put { key, value } => prefix_len + key.len() + value.len() + PER_ITEM_OVERHEAD,
            Op::Delete { key } => prefix_len + key.len() + PER_ITEM_OVERHEAD,
        })
        .sum();
    compares + ops + PER_ITEM_OVERHEAD
}

/// The etcd transaction for `txn` (already normalised and checked), with every key under `prefix`.
pub(crate) fn build(txn: &Txn, prefix: &str) -> EtcdTxn {
    let full = |key: &str| format!("{prefix}{key}").into_bytes();
    // An absent key compares as mod_revision 0 in etcd, which is the trait's meaning of revision 0.
    let compares: Vec<EtcdCompare> = txn
        .compares
        .iter()
        .map(|Compare::ModRevision { key, revision }| EtcdCompare::mod_revision(full(key), CompareOp::Equal, *revision))
        .collect();
    let success: Vec<TxnOp> = txn
        .ops
        .iter()
        .map(|op| match op {
            Op::Put { key, value } => TxnOp::put(full(key), value.clone(), None),
            Op::Delete { key } => TxnOp::delete(full(key), None),
        })
        .collect();
    let failure: Vec<TxnOp> = txn
        .compares
        .iter()
        .map(|Compare::ModRevision { key, .. }| TxnOp::get(full(key), Some(GetOptions::new().with_keys_only())))
        .collect();
    EtcdTxn::new().when(compares).and_then(success).or_else(failure)
}

/// The outcome of an answered transaction: committed at the header's revision, or the first compare that failed.
pub(crate) fn outcome(txn: &Txn, response: &TxnResponse) -> Result<TxnOutcome, StoreError> {
    let revision = response.header().map(|h| h.revision()).unwrap_or(0);
    if response.succeeded() {
        return Ok(TxnOutcome::Committed { revision });
    }
    let reads = response.op_responses();
    for (Compare::ModRevision { key, revision: expected }, read) in txn.compares.iter().zip(reads.iter()) {
        let actual = match read {
            TxnOpResponse::Get(get) => get.kvs().first().map(|kv| kv.mod_revision()).unwrap_or(0),
            _ => {
                return Err(StoreError::Backend {
                    operation: "read a failed transaction's compares",
                    source: "etcd answered the failure branch's reads with another kind of response".into(),
                });
            }
        };
        if actual != *expected {
            return Ok(TxnOutcome::Conflict { key: key.clone(), actual_revision: actual });
        }
    }
    Err(StoreError::Backend {
        operation: "read a failed transaction's compares",
        source: format!("etcd reported a failed compare at revision {revision}, but every compared key matches").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_write_of_a_key_wins() {
        let ops = Txn::new().put("/a", b"1".to_vec()).put("/b", b"2".to_vec()).delete("/a").put("/c", vec![]).ops;
        assert_eq!(
            last_write_per_key(ops),
            vec![
                Op::Put { key: "/b".into(), value: b"2".to_vec() },
                Op::Delete { key: "/a".into() },
                Op::Put { key: "/c".into(), value: vec![] },
            ]
        );
    }

    #[test]
    fn limits_are_checked_before_sending() {
        let config = EtcdConfig::parse("http://h:2379?max-request-bytes=1000&max-txn-ops=3").unwrap();
        assert!(check_limits(&Txn::new().put("/k", vec![0; 900]), 7, &config).is_ok());
        let big = check_limits(&Txn::new().put("/k", vec![0; 1000]), 7, &config);
        assert!(
            matches!(&big, Err(StoreError::TooLarge { detail }) if detail.contains("max-request-bytes")),
            "{big:?}"
        );
        let many = Txn::new().put("/1", vec![]).put("/2", vec![]).put("/3", vec![]).put("/4", vec![]);
        assert!(
            matches!(check_limits(&many, 0, &config), Err(StoreError::TooLarge { detail }) if detail.contains("max-txn-ops"))
        );
    }
}
