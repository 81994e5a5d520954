//! Diagnostic-setting categories and the record kind each one has.

use std::fmt;

/// An Entra diagnostic category. Names not listed are [`Category::Other`] and pass through as
/// generic records: a tenant can enable a category newer than this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    SignInLogs,
    NonInteractiveUserSignInLogs,
    ServicePrincipalSignInLogs,
    ManagedIdentitySignInLogs,
    MicrosoftServicePrincipalSignInLogs,
    AdfsSignInLogs,
    AuditLogs,
    ProvisioningLogs,
    RiskyUsers,
    UserRiskEvents,
    RiskyServicePrincipals,
    ServicePrincipalRiskEvents,
    MicrosoftGraphActivityLogs,
    AzureAdGraphActivityLogs,
    Other,
}

/// The shape family of a category's `properties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    SignIn,
    Audit,
    Provisioning,
    Risk,
    GraphActivity,
    Generic,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "signin",
            Kind::Audit => "audit",
            Kind::Provisioning => "provisioning",
            Kind::Risk => "risk",
            Kind::GraphActivity => "graph_activity",
            Kind::Generic => "generic",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Category {
    /// Every named category, in documentation order.
    pub const ALL: [Category; 14] = [
        Category::SignInLogs,
        Category::NonInteractiveUserSignInLogs,
        Category::ServicePrincipalSignInLogs,
        Category::ManagedIdentitySignInLogs,
        Category::MicrosoftServicePrincipalSignInLogs,
        Category::AdfsSignInLogs,
        Category::AuditLogs,
        Category::ProvisioningLogs,
        Category::RiskyUsers,
        Category::UserRiskEvents,
        Category::RiskyServicePrincipals,
        Category::ServicePrincipalRiskEvents,
        Category::MicrosoftGraphActivityLogs,
        Category::AzureAdGraphActivityLogs,
    ];

    /// Matches a category name case-insensitively. The 2019 documentation's `SignIn` is the
    /// interactive sign-in category under its old name.
    pub fn from_name(name: &str) -> Category {
        Category::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .unwrap_or_else(|| {
                if name.eq_ignore_ascii_case("SignIn") {
                    Category::SignInLogs
                } else {
                    Category::Other
                }
            })
    }

    /// The canonical name, as diagnostic settings spell it; `Other` has none of its own.
    pub fn name(self) -> &'static str {
        match self {
            Category::SignInLogs => "SignInLogs",
            Category::NonInteractiveUserSignInLogs => "NonInteractiveUserSignInLogs",
            Category::ServicePrincipalSignInLogs => "ServicePrincipalSignInLogs",
            Category::ManagedIdentitySignInLogs => "ManagedIdentitySignInLogs",
            Category::MicrosoftServicePrincipalSignInLogs => "MicrosoftServicePrincipalSignInLogs",
            Category::AdfsSignInLogs => "ADFSSignInLogs",
            Category::AuditLogs => "AuditLogs",
            Category::ProvisioningLogs => "ProvisioningLogs",
            Category::RiskyUsers => "RiskyUsers",
            Category::UserRiskEvents => "UserRiskEvents",
            Category::RiskyServicePrincipals => "RiskyServicePrincipals",
            Category::ServicePrincipalRiskEvents => "ServicePrincipalRiskEvents",
            Category::MicrosoftGraphActivityLogs => "MicrosoftGraphActivityLogs",
            Category::AzureAdGraphActivityLogs => "AzureADGraphActivityLogs",
            Category::Other => "Other",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Category::SignInLogs
            | Category::NonInteractiveUserSignInLogs
            | Category::ServicePrincipalSignInLogs
            | Category::ManagedIdentitySignInLogs
            | Category::MicrosoftServicePrincipalSignInLogs
            | Category::AdfsSignInLogs => Kind::SignIn,
            Category::AuditLogs => Kind::Audit,
            Category::ProvisioningLogs => Kind::Provisioning,
            Category::RiskyUsers
            | Category::UserRiskEvents
            | Category::RiskyServicePrincipals
            | Category::ServicePrincipalRiskEvents => Kind::Risk,
            Category::MicrosoftGraphActivityLogs | Category::AzureAdGraphActivityLogs => {
                Kind::GraphActivity
            }
            Category::Other => Kind::Generic,
        }
    }

    /// Sign-ins by people, as opposed to applications and managed identities.
    pub fn is_user_sign_in(self) -> bool {
        matches!(
            self,
            Category::SignInLogs
                | Category::NonInteractiveUserSignInLogs
                | Category::AdfsSignInLogs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.name()), c);
            assert_eq!(Category::from_name(&c.name().to_lowercase()), c);
        }
        assert_eq!(Category::from_name("SignIn"), Category::SignInLogs);
        assert_eq!(
            Category::from_name("NetworkAccessTrafficLogs"),
            Category::Other
        );
    }
}
