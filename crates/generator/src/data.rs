//! Static vocabulary: names, places, applications, error codes. Well-known Microsoft first-party
//! application ids, directory role template ids and licence SKU ids are public identifiers that
//! real logs carry; everything else (people, companies, policies) is invented here.

/// Fictitious organisations (display name, verified domain, onmicrosoft prefix).
pub(crate) const ORGS: &[(&str, &str, &str)] = &[
    ("Contoso Ltd", "contoso.com", "contoso"),
    ("Fabrikam Inc", "fabrikam.com", "fabrikamcorp"),
    ("Northwind Traders", "northwindtraders.com", "northwind"),
    ("Woodgrove Bank", "woodgrovebank.com", "woodgrove"),
    ("Adatum Corporation", "adatum.com", "adatumcorp"),
    ("Tailspin Toys", "tailspintoys.com", "tailspin"),
    ("Litware Inc", "litware.com", "litwareinc"),
    ("Wingtip Toys", "wingtiptoys.com", "wingtip"),
];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Lucas",
    "Mia",
    "Ethan",
    "Sofia",
    "Mateo",
    "Chloé",
    "Jürgen",
    "Zoë",
    "José",
    "François",
    "Søren",
    "Łukasz",
    "Björn",
    "Ana",
    "Inès",
    "Aisha",
    "Wei",
    "Priya",
    "Kenji",
    "Olga",
    "Amara",
    "Diego",
    "Fatima",
    "Hannah",
    "Omar",
    "Yuki",
    "Lars",
    "Nadia",
    "Tomás",
    "Elif",
    "Rahul",
    "Grace",
    "Samuel",
    "Isabel",
    "Daniel",
    "Maya",
    "Kwame",
    "Leila",
    "Arjun",
    "Chen",
    "Marta",
    "Jonas",
    "Clara",
    "Felipe",
    "Nora",
    "Hugo",
    "Ingrid",
    "Pavel",
    "Sara",
    "Tariq",
    "Julia",
    "Mohammed",
    "Eva",
    "Oscar",
    "Lena",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Müller",
    "Größ",
    "Núñez",
    "Dvořák",
    "Öztürk",
    "Ångström",
    "Kowalski",
    "Nguyen",
    "Patel",
    "Garcia",
    "Martin",
    "Bernard",
    "Rossi",
    "Schmidt",
    "Jensen",
    "Novak",
    "Silva",
    "Kim",
    "Tanaka",
    "Okafor",
    "Haddad",
    "Ivanova",
    "Larsen",
    "Moreau",
    "Fischer",
    "Costa",
    "Singh",
    "Wang",
    "Brown",
    "Wilson",
    "Taylor",
    "Lefèvre",
    "Søndergaard",
    "Ramírez",
    "O'Brien",
    "van der Berg",
    "Mensah",
    "Yilmaz",
    "Hernández",
    "Lindqvist",
    "Kaur",
    "Chen",
    "Dubois",
    "Weber",
    "Romano",
    "Andersson",
    "Popescu",
    "Horváth",
];

pub(crate) const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Sales",
    "Marketing",
    "Engineering",
    "Human Resources",
    "Legal",
    "IT",
    "Operations",
    "Customer Success",
    "Research",
    "Procurement",
    "Facilities",
];

pub(crate) const JOB_TITLES: &[&str] = &[
    "Analyst",
    "Senior Engineer",
    "Account Executive",
    "Manager",
    "Director",
    "Consultant",
    "Specialist",
    "Coordinator",
    "Team Lead",
    "Architect",
    "Associate",
    "Vice President",
];

pub(crate) const GUEST_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "partner-consulting.net",
    "acme-audit.io",
    "yahoo.com",
];

/// A place: city, state, country code, latitude, longitude (as Entra prints them), Graph
/// activity region, risk-log short region.
#[derive(Debug)]
pub(crate) struct City {
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub lat: &'static str,
    pub lon: &'static str,
    pub region: &'static str,
    pub short_region: &'static str,
}

const fn city(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    lat: &'static str,
    lon: &'static str,
    region: &'static str,
    short_region: &'static str,
) -> City {
    City {
        city,
        state,
        country,
        lat,
        lon,
        region,
        short_region,
    }
}

/// The first `HOME_CITIES` are where employees work; the rest are where attacks come from.
pub(crate) const CITIES: &[City] = &[
    city(
        "Seattle",
        "Washington",
        "US",
        "47.60621261596680",
        "-122.33206939697266",
        "West US 2",
        "us",
    ),
    city(
        "New York",
        "New York",
        "US",
        "40.71277618408203",
        "-74.00597381591797",
        "East US",
        "us",
    ),
    city(
        "Chicago",
        "Illinois",
        "US",
        "41.87811279296875",
        "-87.62979888916016",
        "Central US",
        "us",
    ),
    city(
        "Austin",
        "Texas",
        "US",
        "30.26715087890625",
        "-97.74306488037109",
        "South Central US",
        "us",
    ),
    city(
        "London",
        "London",
        "GB",
        "51.50735092163086",
        "-0.12775829434395",
        "UK South",
        "weu",
    ),
    city(
        "Strood",
        "Medway",
        "GB",
        "51.39479827880859",
        "0.48039001226425",
        "UK South",
        "weu",
    ),
    city(
        "München",
        "Bayern",
        "DE",
        "48.13513946533203",
        "11.58198070526123",
        "Germany West Central",
        "de",
    ),
    city(
        "Frankfurt am Main",
        "Hessen",
        "DE",
        "50.11092376708984",
        "8.68212699890137",
        "Germany West Central",
        "de",
    ),
    city(
        "Paris",
        "Paris",
        "FR",
        "48.85661315917969",
        "2.35222196578979",
        "France Central",
        "weu",
    ),
    city(
        "Amsterdam",
        "Noord-Holland",
        "NL",
        "52.36757659912109",
        "4.90413904190063",
        "West Europe",
        "weu",
    ),
    city(
        "Dublin",
        "Dublin",
        "IE",
        "53.34980773925781",
        "-6.26030969619751",
        "North Europe",
        "neu",
    ),
    city(
        "Stockholm",
        "Stockholm",
        "SE",
        "59.32932281494141",
        "18.06858062744141",
        "Sweden Central",
        "neu",
    ),
    city(
        "Hyderabad",
        "Telangana",
        "IN",
        "17.38500022888184",
        "78.48670196533203",
        "Central India",
        "ind",
    ),
    city(
        "Bengaluru",
        "Karnataka",
        "IN",
        "12.97159862518311",
        "77.59456634521484",
        "South India",
        "ind",
    ),
    city(
        "Singapore",
        "Singapore",
        "SG",
        "1.35208296775818",
        "103.81983947753906",
        "Southeast Asia",
        "sea",
    ),
    city(
        "Sydney",
        "New South Wales",
        "AU",
        "-33.86881637573242",
        "151.20929336547852",
        "Australia East",
        "aue",
    ),
    city(
        "Toronto",
        "Ontario",
        "CA",
        "43.65322494506836",
        "-79.38318634033203",
        "Canada Central",
        "us",
    ),
    city(
        "São Paulo",
        "São Paulo",
        "BR",
        "-23.55051994323730",
        "-46.63330841064453",
        "Brazil South",
        "us",
    ),
    // Attack and travel origins.
    city(
        "Lagos",
        "Lagos",
        "NG",
        "6.52437877655029",
        "3.37920570373535",
        "West Europe",
        "weu",
    ),
    city(
        "Bucharest",
        "București",
        "RO",
        "44.42676544189453",
        "26.10253715515137",
        "West Europe",
        "weu",
    ),
    city(
        "Hanoi",
        "Hà Nội",
        "VN",
        "21.02776527404785",
        "105.83415985107422",
        "Southeast Asia",
        "sea",
    ),
    city(
        "Zürich",
        "Zürich",
        "CH",
        "47.37688827514648",
        "8.54169368743896",
        "Switzerland North",
        "weu",
    ),
    city(
        "Kyiv",
        "Kyiv City",
        "UA",
        "50.45009994506836",
        "30.52339935302734",
        "West Europe",
        "weu",
    ),
    city("", "", "", "0", "0", "West Europe", "weu"),
];

pub(crate) const HOME_CITIES: usize = 18;

/// First octets of public IPv4 ranges used for addresses (no private or reserved ranges).
pub(crate) const IPV4_FIRST_OCTETS: &[u8] = &[
    20, 23, 31, 40, 51, 52, 62, 77, 81, 86, 92, 94, 104, 109, 145, 151, 176, 185, 188, 193, 195,
    203, 212, 213, 217,
];

pub(crate) const IPV6_PREFIXES: &[&str] = &[
    "2a02:cf40",
    "2603:1030",
    "2001:4860",
    "2a01:e0a",
    "2600:1700",
];

pub(crate) const ASNS: &[i64] = &[
    3320, 7922, 2856, 3215, 5089, 8075, 16509, 13335, 701, 7018, 6830, 12322, 55836, 3301, 1136,
];

/// Device templates: operating system, browser (as Entra prints it), trust type, user agent,
/// client app used, whether it is a phone.
#[derive(Debug)]
pub(crate) struct DeviceKind {
    pub os: &'static str,
    pub browser: &'static str,
    pub user_agent: &'static str,
    pub client_app: &'static str,
    pub mobile: bool,
}

pub(crate) const DEVICE_KINDS: &[DeviceKind] = &[
    DeviceKind {
        os: "Windows10",
        browser: "Edge 124.0.2478",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        client_app: "Browser",
        mobile: false,
    },
    DeviceKind {
        os: "Windows10",
        browser: "Chrome 125.0.0",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
        client_app: "Browser",
        mobile: false,
    },
    DeviceKind {
        os: "Windows10",
        browser: "Rich Client 4.61.0.0",
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; MSAppHost/3.0) Teams/24102.2223.2870.9480",
        client_app: "Mobile Apps and Desktop clients",
        mobile: false,
    },
    DeviceKind {
        os: "MacOs",
        browser: "Safari 17.4",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
        client_app: "Browser",
        mobile: false,
    },
    DeviceKind {
        os: "MacOs",
        browser: "Chrome 125.0.0",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
        client_app: "Browser",
        mobile: false,
    },
    DeviceKind {
        os: "Ios 17.4.1",
        browser: "Mobile Safari 17.4",
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        client_app: "Browser",
        mobile: true,
    },
    DeviceKind {
        os: "Ios 17.5",
        browser: "Rich Client 1.2024.0507",
        user_agent: "Outlook-iOS/2.0",
        client_app: "Mobile Apps and Desktop clients",
        mobile: true,
    },
    DeviceKind {
        os: "Android 14",
        browser: "Chrome Mobile 125.0.6422",
        user_agent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.53 Mobile Safari/537.36",
        client_app: "Browser",
        mobile: true,
    },
    DeviceKind {
        os: "Linux",
        browser: "Firefox 126.0",
        user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        client_app: "Browser",
        mobile: false,
    },
];

/// An application users sign in to: display name, app id, resource name, resource id, weight.
#[derive(Debug)]
pub(crate) struct App {
    pub name: &'static str,
    pub app_id: &'static str,
    pub resource: &'static str,
    pub resource_id: &'static str,
    pub scopes: &'static str,
}

const fn app(
    name: &'static str,
    app_id: &'static str,
    resource: &'static str,
    resource_id: &'static str,
    scopes: &'static str,
) -> App {
    App {
        name,
        app_id,
        resource,
        resource_id,
        scopes,
    }
}

const GRAPH: &str = "00000003-0000-0000-c000-000000000000";
const EXCHANGE: &str = "00000002-0000-0ff1-ce00-000000000000";
const SHAREPOINT: &str = "00000003-0000-0ff1-ce00-000000000000";
const ARM: &str = "797f4846-ba00-4fd7-ba43-dac1f8f63013";
const TEAMS_SVC: &str = "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe";

/// Ordered from most to least used; the generator applies a Zipf-like skew over this order.
pub(crate) const USER_APPS: &[App] = &[
    app(
        "Microsoft Teams",
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "Microsoft Teams Services",
        TEAMS_SVC,
        "[user_impersonation]",
    ),
    app(
        "Microsoft Office",
        "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        "Office 365 Exchange Online",
        EXCHANGE,
        "[EWS.AccessAsUser.All,Mail.ReadWrite]",
    ),
    app(
        "Microsoft Outlook",
        "5d661950-3475-41cd-a2c3-d671a3162bc1",
        "Office 365 Exchange Online",
        EXCHANGE,
        "[Mail.ReadWrite,Calendars.ReadWrite]",
    ),
    app(
        "OneDrive SyncEngine",
        "ab9b8c07-8f02-4f72-87fa-80105867a763",
        "Office 365 SharePoint Online",
        SHAREPOINT,
        "[AllSites.Write,MyFiles.Write]",
    ),
    app(
        "Office365 Shell WCSS-Client",
        "89bee1f7-5e6e-4d8a-9f3d-ecd601259da7",
        "Microsoft Graph",
        GRAPH,
        "[User.Read,People.Read]",
    ),
    app(
        "Microsoft Edge",
        "ecd6b820-32c2-49b6-98a6-444530e5a77a",
        "Microsoft Graph",
        GRAPH,
        "[User.Read]",
    ),
    app(
        "Microsoft Authentication Broker",
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
        "Microsoft Graph",
        GRAPH,
        "[User.Read]",
    ),
    app(
        "Windows Sign In",
        "38aa3b87-a06d-4817-b275-7a316988d93b",
        "Windows Azure Active Directory",
        "00000002-0000-0000-c000-000000000000",
        "",
    ),
    app(
        "Microsoft Teams Web Client",
        "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
        "Microsoft Teams Services",
        TEAMS_SVC,
        "[user_impersonation]",
    ),
    app(
        "Outlook Mobile",
        "27922004-5251-4030-b22d-91ecd9a37ea4",
        "Office 365 Exchange Online",
        EXCHANGE,
        "[Mail.ReadWrite]",
    ),
    app(
        "My Apps",
        "2793995e-0a7d-40d7-bd35-6968ba142197",
        "Microsoft Graph",
        GRAPH,
        "[User.Read]",
    ),
    app(
        "Azure Portal",
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "Windows Azure Service Management API",
        ARM,
        "[user_impersonation]",
    ),
    app(
        "SharePoint Online Web Client Extensibility",
        "08e18876-6177-487e-b8b5-cf950c1e598c",
        "Office 365 SharePoint Online",
        SHAREPOINT,
        "[AllSites.Read]",
    ),
    app(
        "Microsoft Azure CLI",
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "Windows Azure Service Management API",
        ARM,
        "[user_impersonation]",
    ),
    app(
        "Visual Studio Code",
        "aebc6443-996d-45c2-90f0-388ff96faa56",
        "Windows Azure Service Management API",
        ARM,
        "[user_impersonation]",
    ),
    app(
        "Microsoft Azure PowerShell",
        "1950a258-227b-4e31-a9cf-717495945fc2",
        "Microsoft Graph",
        GRAPH,
        "[Directory.Read.All,User.Read]",
    ),
    app(
        "Graph Explorer",
        "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
        "Microsoft Graph",
        GRAPH,
        "[User.Read,Mail.Read,openid,profile]",
    ),
    app("Salesforce", "", "Salesforce", "", ""),
    app("ServiceNow", "", "ServiceNow", "", ""),
    app("Workday", "", "Workday", "", ""),
    app("Zoom", "", "Zoom", "", ""),
    app("Slack", "", "Slack", "", ""),
    app(
        "Adobe Identity Management",
        "",
        "Adobe Identity Management",
        "",
        "",
    ),
    app("Dropbox Business", "", "Dropbox Business", "", ""),
];

/// Resources that workload identities request tokens for.
pub(crate) const SP_RESOURCES: &[(&str, &str)] = &[
    ("Microsoft Graph", GRAPH),
    ("Windows Azure Service Management API", ARM),
    ("Azure Key Vault", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"),
    ("Azure Storage", "e406a681-f3d4-42a8-90b6-c2b029497af1"),
    ("Azure SQL Database", "022907d3-0f1b-48f7-badc-1ba6abab6d66"),
    ("Log Analytics API", "ca7f3f0b-7d91-482c-8e09-c5d840d0eac5"),
    (
        "Azure Resource Graph",
        "509e4652-da8d-478d-a730-e9d4a1996ca4",
    ),
];

/// Tenant-owned application service principals (client-credential workloads).
pub(crate) const SP_NAMES: &[&str] = &[
    "terraform-prod-deployer",
    "github-actions-release",
    "Datadog Azure Integration",
    "backup-automation",
    "siem-graph-collector",
    "jenkins-ci",
    "PowerBI-Gateway-Prod",
    "hr-sync-service",
    "vault-secrets-rotation",
    "sharepoint-archiver",
    "intune-reporting",
    "billing-export",
    "mail-relay-daemon",
    "legacy-erp-connector",
    "monitoring-probe",
];

/// Managed identities (user- and system-assigned).
pub(crate) const MI_NAMES: &[&str] = &[
    "func-billing-prod",
    "aks-agentpool-identity",
    "vm-jumpbox-01",
    "logic-hr-onboarding",
    "adf-etl-prod",
    "app-web-frontend",
    "containerapp-api",
    "automation-runbooks",
    "sql-auditing-identity",
    "eventgrid-dispatch",
];

/// Microsoft first-party service principals (MicrosoftServicePrincipalSignInLogs).
pub(crate) const MS_SPS: &[(&str, &str)] = &[
    ("Office 365 Exchange Online", EXCHANGE),
    ("Microsoft Intune", "0000000a-0000-0000-c000-000000000000"),
    ("Office 365 SharePoint Online", SHAREPOINT),
    ("Microsoft Teams Services", TEAMS_SVC),
    ("Power BI Service", "00000009-0000-0000-c000-000000000000"),
    (
        "Azure Resource Graph",
        "509e4652-da8d-478d-a730-e9d4a1996ca4",
    ),
    ("Microsoft Graph", GRAPH),
];

/// The tenant that owns Microsoft first-party applications.
pub(crate) const MICROSOFT_SERVICES_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// A sign-in failure: AADSTS code, failure reason, additional details.
pub(crate) type Failure = (i64, &'static str, &'static str);

pub(crate) const INTERACTIVE_FAILURES: &[(u32, Failure)] = &[
    (
        30,
        (
            50126,
            "Error validating credentials due to invalid username or password.",
            "The user didn't enter the right credentials. Some of these errors are expected as users mistype passwords.",
        ),
    ),
    (
        16,
        (
            50074,
            "Strong Authentication is required.",
            "The user is required to complete multi-factor authentication. The sign-in continues after the second factor.",
        ),
    ),
    (
        14,
        (
            50140,
            "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
            "This is an expected part of the sign-in flow, where the user is asked whether to stay signed in.",
        ),
    ),
    (
        8,
        (
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            "A Conditional Access policy blocked this sign-in. Review the applied policies.",
        ),
    ),
    (
        8,
        (
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
            "MFA is required for this sign-in.",
        ),
    ),
    (
        6,
        (
            500121,
            "Authentication failed during strong authentication request.",
            "The user didn't complete the MFA prompt.",
        ),
    ),
    (
        5,
        (
            50053,
            "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
            "Smart lockout locked the account after repeated failures.",
        ),
    ),
    (
        3,
        (
            50057,
            "User account is disabled. The account has been disabled by an administrator.",
            "The account is disabled.",
        ),
    ),
    (
        4,
        (
            50125,
            "Sign-in was interrupted due to a password reset or password registration entry.",
            "The user was redirected to password registration.",
        ),
    ),
    (
        3,
        (
            50055,
            "Invalid password, entered expired password.",
            "The password has expired and must be changed.",
        ),
    ),
    (
        3,
        (
            50072,
            "Users account is not registered for second factor authentication.",
            "The user must register for MFA.",
        ),
    ),
];

pub(crate) const NON_INTERACTIVE_FAILURES: &[(u32, Failure)] = &[
    (
        30,
        (
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            "The refresh token was revoked, for example after a password change.",
        ),
    ),
    (
        25,
        (
            70044,
            "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
            "The user must sign in again.",
        ),
    ),
    (
        15,
        (
            50133,
            "Session is invalid due to expiration or recent password change.",
            "Sign in again to get a new session.",
        ),
    ),
    (
        10,
        (
            50076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
            "MFA is required for this sign-in.",
        ),
    ),
    (
        8,
        (
            65001,
            "The user or administrator has not consented to use the application.",
            "Consent is missing for the requested scopes.",
        ),
    ),
    (
        6,
        (
            81010,
            "Seamless SSO failed because the user's Kerberos ticket has expired or is invalid.",
            "The client falls back to another method.",
        ),
    ),
    (
        6,
        (
            53003,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            "A Conditional Access policy blocked this sign-in. Review the applied policies.",
        ),
    ),
];

pub(crate) const SP_FAILURES: &[(u32, Failure)] = &[
    (
        35,
        (
            7000222,
            "The provided client secret keys are expired.",
            "Create new keys for the application in the Azure portal, or use a certificate.",
        ),
    ),
    (
        25,
        (
            7000215,
            "Invalid client secret is provided.",
            "The secret sent is not a valid client secret value for this application.",
        ),
    ),
    (
        15,
        (
            700027,
            "Client assertion failed signature validation.",
            "The certificate used to sign the assertion is not registered on the application.",
        ),
    ),
    (
        10,
        (
            7000112,
            "Application is disabled.",
            "The service principal is disabled in the tenant.",
        ),
    ),
    (
        15,
        (
            500011,
            "The resource principal was not found in the tenant.",
            "The application requested a token for a resource that isn't provisioned in the tenant.",
        ),
    ),
];

pub(crate) const MI_FAILURES: &[(u32, Failure)] = &[
    (
        60,
        (
            700024,
            "Client assertion is not within its valid time range.",
            "The federated credential's token is outside its validity window.",
        ),
    ),
    (
        40,
        (
            500011,
            "The resource principal was not found in the tenant.",
            "The identity requested a token for a resource that isn't provisioned in the tenant.",
        ),
    ),
];

pub(crate) const ADFS_FAILURES: &[(u32, Failure)] = &[
    (
        70,
        (
            300030,
            "Error validating credentials due to invalid username or password.",
            "The federation server rejected the credentials.",
        ),
    ),
    (
        30,
        (
            300034,
            "The account is locked out on the federation server.",
            "Extranet lockout is active for this account.",
        ),
    ),
];

/// Directory roles: display name, template id (public, well-known).
pub(crate) const ROLES: &[(&str, &str)] = &[
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    ("Security Reader", "5d6b6bb7-de71-4623-b4af-96380a352509"),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    (
        "Groups Administrator",
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    ),
    (
        "Exchange Administrator",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    (
        "Intune Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
    ),
];

/// Licence SKUs: part number, SKU id (public, well-known).
pub(crate) const SKUS: &[(&str, &str)] = &[
    ("SPE_E3", "05e9a617-0261-4cee-bb44-138d3ef5d965"),
    ("SPE_E5", "06ebc4ee-1bb5-47dd-8120-11324bc54e06"),
    ("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900"),
    ("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"),
    ("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560"),
    ("FLOW_FREE", "f30db892-07e9-47e9-837c-80727f46fd3d"),
];

pub(crate) const GROUP_NAMES: &[&str] = &[
    "Finance",
    "All Employees",
    "Sales EMEA",
    "Sales Americas",
    "Engineering",
    "IT Admins",
    "HR Confidential",
    "Marketing – Campaigns",
    "Project Falcon",
    "VPN Users",
    "License – E5 Users",
    "License – E3 Users",
    "MFA Exclusions",
    "Contractors",
    "Legal & Compliance",
    "Guests – Partners",
    "Intune Pilot",
    "Teams – Leadership",
];

pub(crate) const DELEGATED_SCOPES: &[&str] = &[
    "User.Read",
    "openid profile email offline_access",
    "User.Read Mail.Read",
    "Files.ReadWrite.All Sites.Read.All",
    "Calendars.ReadWrite Contacts.Read",
    "Directory.Read.All User.Read.All",
    "Mail.Send User.Read",
];

pub(crate) const APP_ROLES: &[(&str, &str)] = &[
    ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214"),
    ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
    ("AuditLog.Read.All", "b0afded3-3588-46d8-8b3d-9842eff778da"),
    ("Mail.Send", "b633e1c5-b582-4048-a93e-9f11b44c7e96"),
    (
        "Group.ReadWrite.All",
        "62a82d76-70ea-41e2-9197-370581804d09",
    ),
    ("Sites.Read.All", "332a536c-c7ef-4017-ab91-336970924f0d"),
];

/// Conditional Access policies a tenant may have: display name, grant controls, session
/// controls.
pub(crate) const CA_POLICIES: &[(&str, &[&str], &[&str])] = &[
    ("CA001 – Require MFA for all users", &["Mfa"], &[]),
    ("CA002 – Block legacy authentication", &["Block"], &[]),
    ("CA003 – Require MFA for administrators", &["Mfa"], &[]),
    (
        "CA004 – Require compliant or hybrid joined device",
        &["RequireCompliantDevice", "RequireDomainJoinedDevice"],
        &[],
    ),
    (
        "CA005 – Block sign-ins from high-risk countries",
        &["Block"],
        &[],
    ),
    ("CA006 – Guest terms of use", &["Guest terms of use"], &[]),
    (
        "CA007 – Sign-in frequency 12h for unmanaged devices",
        &[],
        &["SignInFrequency"],
    ),
    (
        "CA008 – iOS & Android require approved app",
        &["Mfa", "RequireApprovedApp"],
        &[],
    ),
    (
        "CA009 – Require password change for high user risk",
        &["Mfa", "PasswordChange"],
        &[],
    ),
    (
        "CA010 – App enforced restrictions for SharePoint",
        &[],
        &["ApplicationEnforcedRestrictions"],
    ),
    ("CA011 – Require MFA for Azure management", &["Mfa"], &[]),
    (
        "CA012 – Block access for unknown platforms",
        &["Block"],
        &[],
    ),
];

pub(crate) const MFA_METHODS: &[(&str, &str)] = &[
    ("Mobile app notification", "Microsoft Authenticator App"),
    ("OATH verification code", "Microsoft Authenticator App"),
    ("Text message", "+X XXXXXXXX42"),
    ("Phone call", "+X XXXXXXXX17"),
    ("FIDO2 security key", "YubiKey 5 NFC"),
    ("Windows Hello for Business", ""),
];

pub(crate) const WORKLOAD_USER_AGENTS: &[&str] = &[
    "python-requests/2.31.0",
    "azsdk-net-Identity/1.11.3 (.NET 8.0.4; Microsoft Windows 10.0.20348)",
    "Go-http-client/1.1",
    "azsdk-python-identity/1.16.0 Python/3.11.9 (Linux-5.15.0-1061-azure-x86_64-with-glibc2.35)",
    "Terraform/1.8.4",
    "PowerShell/7.4.2",
    "",
];
