//! The order services are created in: each after the services it depends on; a cycle or an unknown service is
//! refused.

use crate::error::{ComposeError, Result};
use crate::service::Service;

/// The services' indexes in creation order: dependencies first, otherwise the file's order.
pub fn creation_order(services: &[Service]) -> Result<Vec<usize>> {
    let index_of = |name: &str| services.iter().position(|s| s.name == name);
    for service in services {
        for dependency in &service.depends_on {
            if index_of(&dependency.service).is_none() {
                return Err(ComposeError::invalid(
                    format!("services.{}.depends_on", service.name),
                    format!("{:?} is not a service of this file", dependency.service),
                ));
            }
            let depended = services.iter().find(|s| s.name == dependency.service);
            if dependency.condition == crate::service::Condition::Healthy
                && depended.is_some_and(|s| !s.container.contains_key("healthCheck"))
            {
                return Err(ComposeError::invalid(
                    format!("services.{}.depends_on.{}", service.name, dependency.service),
                    format!("service_healthy needs a healthcheck on {}, and it has none", dependency.service),
                ));
            }
        }
    }
    // 0: not visited, 1: on the current path, 2: done.
    let mut state = vec![0u8; services.len()];
    let mut order = Vec::with_capacity(services.len());
    for start in 0..services.len() {
        visit(services, start, &mut state, &mut order, &mut Vec::new())?;
    }
    Ok(order)
}

fn visit(
    services: &[Service],
    at: usize,
    state: &mut [u8],
    order: &mut Vec<usize>,
    path: &mut Vec<usize>,
) -> Result<()> {
    match state[at] {
        2 => return Ok(()),
        1 => {
            let from = path.iter().position(|i| *i == at).unwrap_or(0);
            let mut names: Vec<&str> = path[from..].iter().map(|i| services[*i].name.as_str()).collect();
            names.push(&services[at].name);
            return Err(ComposeError::invalid(
                format!("services.{}.depends_on", services[at].name),
                format!("dependency cycle: {}", names.join(" -> ")),
            ));
        }
        _ => {}
    }
    state[at] = 1;
    path.push(at);
    for dependency in &services[at].depends_on {
        if let Some(next) = services.iter().position(|s| s.name == dependency.service) {
            visit(services, next, state, order, path)?;
        }
    }
    path.pop();
    state[at] = 2;
    order.push(at);
    Ok(())
}
