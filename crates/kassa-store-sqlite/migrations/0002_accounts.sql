-- Account Management: the account authentication realm, password profiles, members (one record
-- per person: the realm's user-authentication-info and the account member share an id), their
-- credentials, accounts and memberships.
CREATE TABLE authentication_realms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    duplicate_email_policy TEXT NOT NULL,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    origin_type TEXT NOT NULL,
    origin_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Exactly one row.
CREATE TABLE account_authentication_settings (
    id TEXT PRIMARY KEY,
    singleton INTEGER NOT NULL DEFAULT 1 CHECK (singleton = 1),
    realm_id TEXT NOT NULL REFERENCES authentication_realms (id),
    enable_self_signup INTEGER NOT NULL,
    auto_create_account INTEGER NOT NULL,
    self_management TEXT NOT NULL,
    token_timeout_secs INTEGER NOT NULL
);
CREATE UNIQUE INDEX account_authentication_settings_singleton_key ON account_authentication_settings (singleton);

CREATE TABLE password_profiles (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES authentication_realms (id),
    name TEXT NOT NULL,
    username_format TEXT NOT NULL,
    enable_one_time_password_token INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX password_profiles_realm ON password_profiles (realm_id, created_at);

CREATE TABLE account_members (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES authentication_realms (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    given_name TEXT,
    middle_name TEXT,
    family_name TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX account_members_email ON account_members (email);
CREATE INDEX account_members_created ON account_members (created_at);

CREATE TABLE member_credentials (
    id TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES account_members (id) ON DELETE CASCADE,
    password_profile_id TEXT NOT NULL REFERENCES password_profiles (id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX member_credentials_username_key ON member_credentials (password_profile_id, username_key);
CREATE UNIQUE INDEX member_credentials_member_profile_key ON member_credentials (member_id, password_profile_id);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    legal_name TEXT,
    registration_id TEXT,
    external_ref TEXT,
    parent_id TEXT REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX accounts_registration_id_key ON accounts (registration_id);
CREATE INDEX accounts_created ON accounts (created_at);
CREATE INDEX accounts_parent ON accounts (parent_id);

CREATE TABLE account_memberships (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES account_members (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX account_memberships_account_member_key ON account_memberships (account_id, member_id);
CREATE INDEX account_memberships_member ON account_memberships (member_id);
