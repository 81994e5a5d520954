//! The simulated tenant: users, admins, devices, groups, applications and workload identities,
//! built once from the seed. Hot strings are stored pre-escaped so records are mostly copies.

use std::collections::HashSet;

use crate::data::{self, CITIES, DEVICE_KINDS, HOME_CITIES, USER_APPS};
use crate::json;
use crate::rng::{Rng, Skewed};

#[derive(Debug)]
pub(crate) struct Tenant {
    pub id: String,
    pub id_nodash: String,
    pub name: &'static str,
    pub domain: &'static str,
    pub onmicrosoft: String,
}

#[derive(Debug)]
pub(crate) struct Device {
    /// `""` for devices not registered in Entra.
    pub id: String,
    pub name: String,
    pub kind: &'static data::DeviceKind,
    pub compliant: bool,
    pub managed: bool,
    pub trust: &'static str,
}

#[derive(Debug)]
pub(crate) struct User {
    pub display: String,
    pub upn: String,
    pub id: String,
    pub guest: bool,
    pub city: usize,
    pub ip: String,
    pub asn: i64,
    pub devices: Vec<Device>,
    pub department: &'static str,
    pub title: &'static str,
    /// Index into `data::ROLES` for administrators.
    pub role: Option<usize>,
}

/// An application or managed-identity service principal in the tenant.
#[derive(Debug)]
pub(crate) struct Workload {
    pub name: String,
    pub app_id: String,
    pub sp_id: String,
    pub key_id: String,
    pub credential: &'static str,
    pub resources: [usize; 2],
    pub ip: String,
    pub city: usize,
    pub user_agent: &'static str,
    /// Managed identities: `userAssigned` or `systemAssigned` and the Azure resource id.
    pub msi: Option<(&'static str, String)>,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub name: &'static str,
    pub id: String,
}

#[derive(Debug)]
pub(crate) struct CaPolicy {
    pub index: usize,
    pub id: String,
    /// `enabled`, `reportOnly` or `disabled`.
    pub state: &'static str,
}

#[derive(Debug)]
pub(crate) struct Population {
    pub tenant: Tenant,
    pub users: Vec<User>,
    pub user_skew: Skewed,
    /// Indices into `users` of administrators, most active first.
    pub admins: Vec<usize>,
    pub admin_skew: Skewed,
    /// App id and resource id per `data::USER_APPS` entry (generated for third-party apps).
    pub app_ids: Vec<(String, String)>,
    pub app_skew: Skewed,
    pub sps: Vec<Workload>,
    pub sp_skew: Skewed,
    pub mis: Vec<Workload>,
    pub mi_skew: Skewed,
    pub groups: Vec<Group>,
    pub ca: Vec<CaPolicy>,
    pub role_ids: Vec<String>,
}

pub(crate) fn random_guid(rng: &mut Rng) -> String {
    let (hi, lo) = (rng.u64(), rng.u64());
    json::guid_string(hi, lo)
}

pub(crate) fn ipv4(rng: &mut Rng, first: &[u8]) -> String {
    let a = rng.pick(first);
    format!(
        "{a}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.range(1, 254)
    )
}

pub(crate) fn ipv6(rng: &mut Rng) -> String {
    let p = rng.pick(data::IPV6_PREFIXES);
    format!(
        "{p}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000),
        rng.below(0x10000)
    )
}

/// ASCII-folds a name part for use in a UPN.
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let r = match c {
            'ä' | 'á' | 'à' | 'ã' | 'å' | 'Å' | 'Á' => "a",
            'ö' | 'ó' | 'ø' | 'Ö' | 'Ø' => "o",
            'ü' | 'ú' | 'Ü' => "u",
            'é' | 'è' | 'ë' | 'ê' | 'É' => "e",
            'í' | 'ı' => "i",
            'ç' | 'č' => "c",
            'ñ' => "n",
            'ł' | 'Ł' => "l",
            'ř' => "r",
            'š' | 'ş' => "s",
            'ž' => "z",
            'ğ' => "g",
            'ß' => "ss",
            'à'..='ÿ' => "",
            ' ' | '\'' | '-' => "",
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => "",
        };
        out.push_str(r);
    }
    out
}

fn device(rng: &mut Rng, first: &str, kind_index: usize) -> Device {
    let kind = &DEVICE_KINDS[kind_index];
    let registered = rng.chance(if kind.mobile { 550 } else { 850 });
    let (id, trust) = if registered {
        let trust = if kind.mobile {
            "Azure AD registered"
        } else if rng.chance(400) {
            "Hybrid Azure AD joined"
        } else {
            "Azure AD joined"
        };
        (random_guid(rng), trust)
    } else {
        (String::new(), "")
    };
    let name = if !registered {
        String::new()
    } else if kind.mobile {
        if kind.os.starts_with("Ios") {
            format!("{first}'s iPhone")
        } else {
            "Pixel 8".to_string()
        }
    } else {
        let prefix = if kind.os == "MacOs" { "MAC" } else { "LT" };
        format!("{prefix}-{:06X}", rng.below(0x100_0000))
    };
    let managed = registered && (!kind.mobile || rng.chance(600));
    Device {
        id,
        name,
        kind,
        compliant: managed && rng.chance(900),
        managed,
        trust,
    }
}

fn workload(rng: &mut Rng, name: &str, managed: bool, subscription: &str) -> Workload {
    let credential = if managed {
        "managedIdentity"
    } else {
        *rng.weighted(&[
            (55, "clientSecret"),
            (30, "certificate"),
            (15, "federatedIdentityCredential"),
        ])
    };
    let r0 = rng.idx(data::SP_RESOURCES.len());
    let msi = managed.then(|| {
        let user_assigned = rng.chance(400);
        let resource = if user_assigned {
            format!(
                "/subscriptions/{subscription}/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
            )
        } else {
            format!(
                "/subscriptions/{subscription}/resourceGroups/rg-{name}/providers/Microsoft.Web/sites/{name}"
            )
        };
        (
            if user_assigned {
                "userAssigned"
            } else {
                "systemAssigned"
            },
            resource,
        )
    });
    Workload {
        name: name.to_string(),
        app_id: random_guid(rng),
        sp_id: random_guid(rng),
        key_id: if managed {
            String::new()
        } else {
            random_guid(rng)
        },
        credential,
        resources: [r0, (r0 + 1 + rng.idx(3)) % data::SP_RESOURCES.len()],
        ip: ipv4(rng, &[20, 40, 52, 104]),
        city: rng.idx(HOME_CITIES),
        user_agent: rng.pick_copy(data::WORKLOAD_USER_AGENTS),
        msi,
    }
}

impl Population {
    pub(crate) fn build(seed: u64, n_users: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0x007e_4a47_0b1d);
        let (name, domain, prefix) = *rng.pick(data::ORGS);
        let tenant_id = random_guid(&mut rng);
        let tenant = Tenant {
            id_nodash: tenant_id.replace('-', ""),
            id: tenant_id,
            name,
            domain,
            onmicrosoft: format!("{prefix}.onmicrosoft.com"),
        };
        // Offices: most users in a few home cities.
        let offices: Vec<usize> = (0..4).map(|_| rng.idx(HOME_CITIES)).collect();

        let mut upns = HashSet::new();
        let mut users = Vec::with_capacity(n_users);
        for i in 0..n_users {
            let (first, last) = if i == 3 {
                ("Jürgen", "Größ")
            } else {
                (*rng.pick(data::FIRST_NAMES), *rng.pick(data::LAST_NAMES))
            };
            let guest = i > 20 && rng.chance(50);
            let base = format!("{}.{}", fold(first), fold(last));
            let mut local = base.clone();
            let mut n = 2;
            while !upns.insert(local.clone()) {
                local = format!("{base}{n}");
                n += 1;
            }
            let upn = if guest {
                let gd = rng.pick(data::GUEST_DOMAINS);
                format!("{local}_{gd}#EXT#@{}", tenant.onmicrosoft)
            } else {
                format!("{local}@{domain}")
            };
            let city = if rng.chance(850) {
                *rng.pick(&offices)
            } else {
                rng.idx(HOME_CITIES)
            };
            let ip = if rng.chance(120) {
                ipv6(&mut rng)
            } else {
                ipv4(&mut rng, data::IPV4_FIRST_OCTETS)
            };
            let laptop = *rng.pick(&[0usize, 0, 0, 1, 1, 2, 2, 3, 4, 8]);
            let mut devices = vec![device(&mut rng, first, laptop)];
            if rng.chance(700) {
                let phone = 5 + rng.idx(3);
                devices.push(device(&mut rng, first, phone));
            }
            users.push(User {
                display: format!("{first} {last}"),
                upn,
                id: random_guid(&mut rng),
                guest,
                city,
                ip,
                asn: *rng.pick(data::ASNS),
                devices,
                department: rng.pick_copy(data::DEPARTMENTS),
                title: rng.pick_copy(data::JOB_TITLES),
                role: None,
            });
        }

        // A few administrators (members, not guests) do nearly all directory changes.
        let n_admins = (n_users / 250).clamp(1, 10);
        let mut admins = Vec::with_capacity(n_admins);
        let mut candidate = 5 % n_users.max(1);
        while admins.len() < n_admins && admins.len() < n_users {
            if !users[candidate].guest && !admins.contains(&candidate) {
                users[candidate].role = Some(admins.len() % data::ROLES.len());
                admins.push(candidate);
            }
            candidate = (candidate + 7) % n_users;
        }

        let app_ids = USER_APPS
            .iter()
            .map(|a| {
                if a.app_id.is_empty() {
                    (random_guid(&mut rng), random_guid(&mut rng))
                } else {
                    (a.app_id.to_string(), a.resource_id.to_string())
                }
            })
            .collect();

        let subscription = random_guid(&mut rng);
        let sps: Vec<Workload> = data::SP_NAMES
            .iter()
            .map(|n| workload(&mut rng, n, false, &subscription))
            .collect();
        let mis: Vec<Workload> = data::MI_NAMES
            .iter()
            .map(|n| workload(&mut rng, n, true, &subscription))
            .collect();
        let groups = data::GROUP_NAMES
            .iter()
            .map(|name| Group {
                name,
                id: random_guid(&mut rng),
            })
            .collect();
        let n_ca = 6 + rng.idx(7);
        let ca = (0..n_ca)
            .map(|index| CaPolicy {
                index,
                id: random_guid(&mut rng),
                state: rng.weighted_copy(&[(70, "enabled"), (22, "reportOnly"), (8, "disabled")]),
            })
            .collect();
        let role_ids = data::ROLES.iter().map(|_| random_guid(&mut rng)).collect();

        Self {
            tenant,
            user_skew: Skewed::zipf(users.len(), 3),
            users,
            admin_skew: Skewed::zipf(admins.len(), 1),
            admins,
            app_ids,
            app_skew: Skewed::zipf(USER_APPS.len(), 2),
            sp_skew: Skewed::zipf(sps.len(), 2),
            sps,
            mi_skew: Skewed::zipf(mis.len(), 2),
            mis,
            groups,
            ca,
            role_ids,
        }
    }

    pub(crate) fn city_of(&self, i: usize) -> &'static data::City {
        &CITIES[i.min(CITIES.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding() {
        assert_eq!(fold("Jürgen"), "jurgen");
        assert_eq!(fold("Größ"), "gross");
        assert_eq!(fold("van der Berg"), "vanderberg");
        assert_eq!(fold("O'Brien"), "obrien");
        assert_eq!(fold("Łukasz"), "lukasz");
    }

    #[test]
    fn population_is_consistent() {
        let p = Population::build(1, 500);
        assert_eq!(p.users.len(), 500);
        assert_eq!(p.users[3].display, "Jürgen Größ");
        let upns: HashSet<_> = p.users.iter().map(|u| &u.upn).collect();
        assert_eq!(upns.len(), 500);
        assert!(!p.admins.is_empty());
        assert!(p.users.iter().any(|u| u.guest));
        assert!((6..=12).contains(&p.ca.len()));
    }
}
