//! [`Vpc`]: the default VPC's security groups, kept in the store and in memory, and the network interfaces the
//! control plane reports; the EC2 operations (`crate::ec2`) and the control plane's
//! [`SecurityGroupDirectory`] work on it.

use crate::groups::{self, SecurityGroupRecord};
use crate::layout::{DEFAULT_SECURITY_GROUP_ID, DEFAULT_SECURITY_GROUP_NAME, VPC_ID};
use crate::{Permission, SecurityGroupDirectory, VpcLayout};
use berth_store::{SharedStore, Txn, TxnOutcome};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

/// An EC2 error: its code, message and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct VpcError {
    /// EC2's error code (`InvalidGroup.NotFound`, ...).
    pub code: String,
    /// The message.
    pub message: String,
    /// The HTTP status (400 for the caller's errors, 500 for Berth's).
    pub status: u16,
}

impl VpcError {
    /// A 400 with EC2's code.
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_string(), message: message.into(), status: 400 }
    }

    /// A 500 (the store failed).
    pub fn server(message: impl Into<String>) -> Self {
        Self { code: "InternalError".into(), message: message.into(), status: 500 }
    }
}

/// A task's network interface, as the control plane reports it for DescribeNetworkInterfaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceView {
    /// `eni-...`.
    pub id: String,
    /// The attachment id.
    pub attachment_id: String,
    /// The subnet.
    pub subnet_id: String,
    /// The address.
    pub address: String,
    /// The MAC address.
    pub mac_address: String,
    /// The private DNS name.
    pub private_dns_name: String,
    /// Its security groups.
    pub security_groups: Vec<String>,
    /// What it is for (`arn:aws:ecs:...:attachment/<id>` as ECS's interfaces say).
    pub description: String,
}

/// Where the interfaces of running tasks come from (the control plane).
pub trait InterfaceSource: Send + Sync {
    /// Every interface in use.
    fn interfaces(&self) -> Vec<InterfaceView>;
}

/// The default VPC, its subnets and security groups.
pub struct Vpc {
    layout: VpcLayout,
    store: SharedStore,
    groups: RwLock<BTreeMap<String, (i64, SecurityGroupRecord)>>,
    writes: tokio::sync::Mutex<()>,
    interfaces: OnceLock<Arc<dyn InterfaceSource>>,
}

impl std::fmt::Debug for Vpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vpc").field("layout", &self.layout).finish_non_exhaustive()
    }
}

/// AWS's default security group: everything in from its own members, everything out.
fn default_group(layout: &VpcLayout) -> SecurityGroupRecord {
    SecurityGroupRecord {
        id: DEFAULT_SECURITY_GROUP_ID.into(),
        name: DEFAULT_SECURITY_GROUP_NAME.into(),
        description: "default VPC security group".into(),
        vpc_id: VPC_ID.into(),
        owner_id: layout.account_id.clone(),
        ingress: vec![Permission {
            protocol: "-1".into(),
            from_port: None,
            to_port: None,
            cidrs: Vec::new(),
            groups: vec![DEFAULT_SECURITY_GROUP_ID.into()],
        }],
        egress: vec![all_out()],
        tags: Vec::new(),
    }
}

/// The rule every new group starts with: all traffic out.
pub(crate) fn all_out() -> Permission {
    Permission {
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        cidrs: vec!["0.0.0.0/0".into()],
        groups: vec![],
    }
}

impl Vpc {
    /// Loads the security groups from the store, creating the default group when it is missing.
    pub async fn open(layout: VpcLayout, store: SharedStore) -> Result<Arc<Self>, VpcError> {
        let range =
            store.range(groups::PREFIX).await.map_err(|e| VpcError::server(format!("reading security groups: {e}")))?;
        let mut map = BTreeMap::new();
        for kv in range.kvs {
            match serde_json::from_slice::<SecurityGroupRecord>(&kv.value) {
                Ok(record) => {
                    map.insert(record.id.clone(), (kv.mod_revision, record));
                }
                Err(error) => tracing::warn!(key = %kv.key, %error, "a security group record does not decode; skipped"),
            }
        }
        let vpc = Arc::new(Self {
            layout,
            store,
            groups: RwLock::new(map),
            writes: tokio::sync::Mutex::new(()),
            interfaces: OnceLock::new(),
        });
        if vpc.group(DEFAULT_SECURITY_GROUP_ID).is_none() {
            let record = default_group(&vpc.layout);
            vpc.put_group(None, record).await?;
        }
        Ok(vpc)
    }

    /// The VPC's shape.
    pub fn layout(&self) -> &VpcLayout {
        &self.layout
    }

    /// Sets where the interfaces of running tasks come from (once).
    pub fn set_interface_source(&self, source: Arc<dyn InterfaceSource>) {
        let _ = self.interfaces.set(source);
    }

    /// The interfaces in use.
    pub fn interfaces(&self) -> Vec<InterfaceView> {
        self.interfaces.get().map(|s| s.interfaces()).unwrap_or_default()
    }

    /// A security group.
    pub fn group(&self, id: &str) -> Option<SecurityGroupRecord> {
        self.groups.read().unwrap_or_else(|p| p.into_inner()).get(id).map(|(_, r)| r.clone())
    }

    /// Every security group, by id.
    pub fn groups(&self) -> Vec<SecurityGroupRecord> {
        self.groups.read().unwrap_or_else(|p| p.into_inner()).values().map(|(_, r)| r.clone()).collect()
    }

    /// Writes a group (`previous`: the revision it was read at, `None` for a new one).
    async fn put_group(&self, previous: Option<i64>, record: SecurityGroupRecord) -> Result<(), VpcError> {
        let key = groups::key(&record.id);
        let value = serde_json::to_vec(&record).map_err(|e| VpcError::server(e.to_string()))?;
        let txn = Txn::new().expect(key.clone(), previous.unwrap_or(0)).put(key, value);
        match self.store.txn(txn).await.map_err(|e| VpcError::server(format!("writing a security group: {e}")))? {
            TxnOutcome::Committed { revision } => {
                self.groups.write().unwrap_or_else(|p| p.into_inner()).insert(record.id.clone(), (revision, record));
                Ok(())
            }
            TxnOutcome::Conflict { .. } => {
                Err(VpcError::server("the security group was changed by another server at the same time; try again"))
            }
        }
    }

    /// Changes a group under the write lock: `change` edits a copy, which is then written.
    pub(crate) async fn update_group(
        &self,
        id: &str,
        change: impl FnOnce(&mut SecurityGroupRecord) -> Result<(), VpcError>,
    ) -> Result<SecurityGroupRecord, VpcError> {
        let _guard = self.writes.lock().await;
        let current = self.groups.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        let Some((revision, mut record)) = current else { return Err(group_not_found(id)) };
        change(&mut record)?;
        self.put_group(Some(revision), record.clone()).await?;
        Ok(record)
    }

    /// Creates a group under the write lock; `check` sees the groups there are.
    pub(crate) async fn create_group(
        &self,
        check: impl FnOnce(&[SecurityGroupRecord]) -> Result<SecurityGroupRecord, VpcError>,
    ) -> Result<SecurityGroupRecord, VpcError> {
        let _guard = self.writes.lock().await;
        let record = check(&self.groups())?;
        self.put_group(None, record.clone()).await?;
        Ok(record)
    }

    /// Deletes a group under the write lock; `check` may refuse.
    pub(crate) async fn delete_group(
        &self,
        id: &str,
        check: impl FnOnce(&SecurityGroupRecord, &[SecurityGroupRecord]) -> Result<(), VpcError>,
    ) -> Result<(), VpcError> {
        let _guard = self.writes.lock().await;
        let current = self.groups.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        let Some((revision, record)) = current else { return Err(group_not_found(id)) };
        check(&record, &self.groups())?;
        let key = groups::key(id);
        let txn = Txn::new().expect(key.clone(), revision).delete(key);
        match self.store.txn(txn).await.map_err(|e| VpcError::server(format!("deleting a security group: {e}")))? {
            TxnOutcome::Committed { .. } => {
                self.groups.write().unwrap_or_else(|p| p.into_inner()).remove(id);
                Ok(())
            }
            TxnOutcome::Conflict { .. } => {
                Err(VpcError::server("the security group was changed by another server at the same time; try again"))
            }
        }
    }
}

/// EC2's error for a security group that does not exist.
pub fn group_not_found(id: &str) -> VpcError {
    VpcError::client("InvalidGroup.NotFound", format!("The security group '{id}' does not exist"))
}

impl SecurityGroupDirectory for Vpc {
    fn group_vpc(&self, id: &str) -> Option<String> {
        self.group(id).map(|g| g.vpc_id)
    }

    fn ingress(&self, id: &str) -> Vec<Permission> {
        self.group(id).map(|g| g.ingress).unwrap_or_default()
    }

    fn egress(&self, id: &str) -> Vec<Permission> {
        self.group(id).map(|g| g.egress).unwrap_or_default()
    }
}
