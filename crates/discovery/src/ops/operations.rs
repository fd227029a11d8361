//! GetOperation and ListOperations: the record of every asynchronous change (all done when their call answered).

use super::{filter_matches, id_of, page};
use crate::records::OperationRecord;
use crate::{Discovery, DiscoveryError};
use berth_model::servicediscovery::{
    FilterCondition, GetOperationRequest, GetOperationResponse, ListOperationsRequest, ListOperationsResponse,
    Operation, OperationFilterName, OperationStatus, OperationSummary, OperationType,
};

fn wire_type(op: &OperationRecord) -> OperationType {
    use crate::records::OperationKind as K;
    match op.kind {
        K::CreateNamespace => OperationType::CreateNamespace,
        K::DeleteNamespace => OperationType::DeleteNamespace,
        K::UpdateNamespace => OperationType::UpdateNamespace,
        K::UpdateService => OperationType::UpdateService,
        K::RegisterInstance => OperationType::RegisterInstance,
        K::DeregisterInstance => OperationType::DeregisterInstance,
    }
}

/// `GetOperation`.
pub(crate) fn get(s: &Discovery, req: GetOperationRequest) -> Result<GetOperationResponse, DiscoveryError> {
    let state = s.index.read();
    let op = state
        .operations
        .get(&req.operation_id)
        .ok_or_else(|| DiscoveryError::operation_not_found(&req.operation_id))?;
    Ok(GetOperationResponse {
        operation: Some(Operation {
            id: Some(op.id.clone()),
            owner_account: Some(s.config.account_id.clone()),
            r#type: Some(wire_type(op)),
            status: Some(OperationStatus::Success),
            error_message: None,
            error_code: None,
            create_date: Some(op.created),
            update_date: Some(op.updated),
            targets: Some(op.targets.clone()),
        }),
    })
}

/// `ListOperations`, with the NAMESPACE_ID, SERVICE_ID, STATUS, TYPE and UPDATE_DATE filters; newest first.
pub(crate) fn list(s: &Discovery, req: ListOperationsRequest) -> Result<ListOperationsResponse, DiscoveryError> {
    use FilterCondition::{Between, Eq, In};
    let state = s.index.read();
    let mut ops: Vec<&OperationRecord> = state.operations.values().collect();
    ops.sort_by(|a, b| b.updated.total_cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    let mut out = Vec::new();
    for op in ops {
        let mut keep = true;
        for f in req.filters.iter().flatten() {
            let target = |name: &str| op.targets.get(name).map(String::as_str).unwrap_or("");
            keep &= match f.name {
                OperationFilterName::NamespaceId => {
                    let ids: Vec<String> = f.values.iter().map(|v| id_of(v).to_string()).collect();
                    filter_matches("NAMESPACE_ID", f.condition, &[Eq], &ids, target("NAMESPACE"))?
                }
                OperationFilterName::ServiceId => {
                    let ids: Vec<String> = f.values.iter().map(|v| id_of(v).to_string()).collect();
                    filter_matches("SERVICE_ID", f.condition, &[Eq], &ids, target("SERVICE"))?
                }
                OperationFilterName::Status => filter_matches("STATUS", f.condition, &[Eq, In], &f.values, "SUCCESS")?,
                OperationFilterName::Type => {
                    filter_matches("TYPE", f.condition, &[Eq, In], &f.values, wire_type(op).as_str())?
                }
                OperationFilterName::UpdateDate => {
                    filter_matches("UPDATE_DATE", f.condition, &[Between], &f.values, &op.updated.to_string())?
                }
            };
        }
        if keep {
            out.push(OperationSummary { id: Some(op.id.clone()), status: Some(OperationStatus::Success) });
        }
    }
    let (operations, next_token) = page(out, req.next_token.as_deref(), req.max_results, 100)?;
    Ok(ListOperationsResponse { operations: Some(operations), next_token })
}
