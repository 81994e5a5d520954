//! Who acted and on what, in one shape for every category (the native header's `actor` and
//! `target`, OCSF's actor and ECS's `user.*` all read from here).

use crate::json::JsonStr;
use crate::kinds::audit::Initiator;
use crate::record::{Body, Record};

/// A user, application, service principal, managed identity, system or object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Principal<'a> {
    /// `user`, `service_principal`, `managed_identity`, `application`, `system`, or the target
    /// type Entra gives (`Group`, `Policy`…) lower-cased.
    pub kind: Option<PrincipalKind<'a>>,
    pub id: Option<JsonStr<'a>>,
    /// Login name (UPN) for users, service principal name or app name otherwise.
    pub name: Option<JsonStr<'a>>,
    pub display_name: Option<JsonStr<'a>>,
    pub ip: Option<JsonStr<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind<'a> {
    Fixed(&'static str),
    /// A type name taken from the record (audit target `type`, provisioning `identityType`).
    Given(JsonStr<'a>),
}

impl Principal<'_> {
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none() && self.display_name.is_none()
    }
}

fn fixed(kind: &'static str) -> Option<PrincipalKind<'static>> {
    Some(PrincipalKind::Fixed(kind))
}

impl<'a> Record<'a> {
    /// The principal that performed the activity.
    pub fn actor(&self) -> Principal<'a> {
        use crate::category::Category::*;
        let env = self.envelope();
        match self.body() {
            Body::SignIn(s) => {
                let kind = match self.category_enum() {
                    ServicePrincipalSignInLogs | MicrosoftServicePrincipalSignInLogs => {
                        "service_principal"
                    }
                    ManagedIdentitySignInLogs => "managed_identity",
                    _ => "user",
                };
                if kind == "user" {
                    Principal {
                        kind: fixed(kind),
                        id: s.user_id,
                        name: s.user_principal_name,
                        display_name: s.user_display_name,
                        ip: s.ip_address.or(env.caller_ip_address),
                    }
                } else {
                    Principal {
                        kind: fixed(kind),
                        id: s.service_principal_id,
                        name: s.service_principal_name.or(s.app_display_name),
                        display_name: s.service_principal_name.or(s.app_display_name),
                        ip: s.ip_address.or(env.caller_ip_address),
                    }
                }
            }
            Body::Audit(a) => match a.initiated_by {
                Initiator::User {
                    id,
                    user_principal_name,
                    display_name,
                    ip_address,
                } => Principal {
                    kind: fixed("user"),
                    id,
                    name: user_principal_name,
                    display_name,
                    ip: ip_address.or(env.caller_ip_address),
                },
                Initiator::App {
                    app_id,
                    display_name,
                    service_principal_id,
                    service_principal_name,
                } => Principal {
                    kind: fixed("application"),
                    id: service_principal_id.or(app_id),
                    name: service_principal_name.or(display_name),
                    display_name,
                    ip: env.caller_ip_address,
                },
                Initiator::Unknown => Principal {
                    ip: env.caller_ip_address,
                    ..Principal::default()
                },
            },
            Body::Provisioning(p) => Principal {
                kind: p
                    .initiated_by
                    .kind
                    .map(PrincipalKind::Given)
                    .or(fixed("system")),
                id: p.initiated_by.id,
                name: p.initiated_by.name,
                display_name: p.initiated_by.name,
                ip: env.caller_ip_address,
            },
            Body::Risk(r) => {
                if r.user_id.is_some() || r.user_principal_name.is_some() {
                    Principal {
                        kind: fixed("user"),
                        id: r.user_id,
                        name: r.user_principal_name,
                        display_name: r.user_display_name,
                        ip: r.ip_address.or(env.caller_ip_address),
                    }
                } else {
                    Principal {
                        kind: fixed("service_principal"),
                        id: r.service_principal_id.or(r.app_id),
                        name: r.display_name,
                        display_name: r.display_name,
                        ip: r.ip_address.or(env.caller_ip_address),
                    }
                }
            }
            Body::GraphActivity(g) => {
                let (kind, id) = match g.user_id {
                    Some(u) => ("user", Some(u)),
                    None => ("service_principal", g.service_principal_id.or(g.app_id)),
                };
                Principal {
                    kind: fixed(kind),
                    id,
                    name: None,
                    display_name: None,
                    ip: g.ip_address.or(env.caller_ip_address),
                }
            }
            Body::Generic => Principal {
                kind: None,
                id: None,
                name: env.identity,
                display_name: env.identity,
                ip: env.caller_ip_address,
            },
        }
    }

    /// What the activity was performed on: the application signed in to, the first audit
    /// target, the provisioned identity, the API called.
    pub fn target(&self) -> Principal<'a> {
        match self.body() {
            Body::SignIn(s) => Principal {
                kind: fixed("application"),
                id: s.app_id,
                name: s.app_display_name,
                display_name: s.app_display_name,
                ip: None,
            },
            Body::Audit(a) => match a.targets.first() {
                Some(t) => Principal {
                    kind: t.kind.map(PrincipalKind::Given),
                    id: t.id,
                    name: t.user_principal_name.or(t.display_name),
                    display_name: t.display_name,
                    ip: None,
                },
                None => Principal::default(),
            },
            Body::Provisioning(p) => Principal {
                kind: p.target_identity.identity_type.map(PrincipalKind::Given),
                id: p.target_identity.id.or(p.source_identity.id),
                name: p
                    .target_identity
                    .user_principal_name
                    .or(p.source_identity.user_principal_name)
                    .or(p.target_identity.name)
                    .or(p.source_identity.name),
                display_name: p.target_identity.name.or(p.source_identity.name),
                ip: None,
            },
            Body::GraphActivity(g) => Principal {
                kind: fixed("api"),
                id: None,
                name: g.request_uri,
                display_name: None,
                ip: None,
            },
            Body::Risk(_) | Body::Generic => Principal::default(),
        }
    }
}
