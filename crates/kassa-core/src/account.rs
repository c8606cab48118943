//! Account Management: B2B accounts, their members (who log in through the store's account
//! authentication realm with a password profile), and memberships joining the two.

use uuid::Uuid;

use crate::time::Millis;

/// The store's settings for account authentication; there is exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    pub id: Uuid,
    /// The authentication realm members log in through, created with the store.
    pub realm_id: Uuid,
    pub enable_self_signup: bool,
    pub auto_create_account_for_account_members: bool,
    /// `disabled` or `update_only`.
    pub account_member_self_management: String,
    pub token_timeout_secs: i64,
}

pub const DEFAULT_ACCOUNT_TOKEN_TIMEOUT_SECS: i64 = 86_400;
/// The longest an account token may live (`account_management_authentication_token_timeout_secs`):
/// Elastic Path documents no bounds; kassa takes any positive number of seconds up to a year.
pub const MAX_ACCOUNT_TOKEN_TIMEOUT_SECS: i64 = 365 * 86_400;
/// `membership_limit` (`/v2/settings/account-membership`): how many accounts one member may
/// belong to. Elastic Path's default and maximum.
pub const DEFAULT_MEMBERSHIP_LIMIT: i64 = 10_000;
pub const MAX_MEMBERSHIP_LIMIT: i64 = 10_000;

/// The refusal of a membership past `membership_limit`.
pub fn membership_limit_reached(limit: i64) -> crate::Error {
    crate::Error::bad_request(
        "Membership limit reached",
        format!("The account member already belongs to {limit} accounts, the store's membership_limit"),
    )
}
pub const SELF_MANAGEMENT_MODES: &[&str] = &["disabled", "update_only"];

impl AccountSettings {
    /// Whether a member may update their own details with their account token
    /// (`account_member_self_management: update_only`).
    pub fn members_manage_themselves(&self) -> bool {
        self.account_member_self_management == "update_only"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Realm {
    pub id: Uuid,
    pub name: String,
    /// `allowed`, `disallowed` or `api_only`.
    pub duplicate_email_policy: String,
    pub redirect_uris: Vec<String>,
    /// What the realm belongs to (`account_authentication_settings` for the account realm).
    pub origin_type: String,
    pub origin_id: Uuid,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub const DUPLICATE_EMAIL_POLICIES: &[&str] = &["allowed", "disallowed", "api_only"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordProfile {
    pub id: Uuid,
    pub realm_id: Uuid,
    pub name: String,
    /// `email` or `any`.
    pub username_format: String,
    pub enable_one_time_password_token: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub const USERNAME_FORMATS: &[&str] = &["email", "any"];

/// A person who can log in: the realm's "user authentication info" and the account member are
/// one record with one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Uuid,
    pub realm_id: Uuid,
    pub name: String,
    pub email: String,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub family_name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A username and password hash of a member under one password profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: Uuid,
    pub member_id: Uuid,
    pub password_profile_id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Usernames are unique per password profile regardless of case and surrounding spaces.
pub fn normalize_username(username: &str) -> String {
    username.trim().to_lowercase()
}

pub const MIN_PASSWORD_LENGTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub legal_name: Option<String>,
    pub registration_id: Option<String>,
    pub external_ref: Option<String>,
    pub parent_id: Option<Uuid>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: Uuid,
    pub account_id: Uuid,
    pub member_id: Uuid,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Everything a self-signup creates, written in one transaction or not at all.
#[derive(Debug, Clone)]
pub struct SelfSignup {
    pub member: Member,
    pub credential: Credential,
    pub account: Option<(Account, Membership)>,
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
/// Deliverability is the mail system's business; this catches typos and garbage.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

/// A store's account authentication settings and realm as its first start (or a reset) makes
/// them: self-signup off, members' self-management disabled, the default token timeout.
pub fn first_realm(now: crate::time::Millis) -> (AccountSettings, Realm) {
    let settings = AccountSettings {
        id: crate::ids::new_id(),
        realm_id: crate::ids::new_id(),
        enable_self_signup: false,
        auto_create_account_for_account_members: false,
        account_member_self_management: "disabled".into(),
        token_timeout_secs: DEFAULT_ACCOUNT_TOKEN_TIMEOUT_SECS,
    };
    let realm = Realm {
        id: settings.realm_id,
        name: "Buyer Organization".into(),
        duplicate_email_policy: "allowed".into(),
        redirect_uris: Vec::new(),
        origin_type: "account_authentication_settings".into(),
        origin_id: settings.id,
        created_at: now,
        updated_at: now,
    };
    (settings, realm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_emails() {
        for ok in ["ron@swanson.com", "a.b+c@x.co.uk", "Ü@bücher.de"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "ron",
            "ron@",
            "@x.com",
            "ron@x",
            "ron@@x.com",
            "ron @x.com",
            "ron@x..com",
            "ron@.x.com",
            "ron@x.com.",
            "ron@x_y.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn normalizes_usernames() {
        assert_eq!(normalize_username("  Ron@Swanson.COM "), "ron@swanson.com");
    }
}
