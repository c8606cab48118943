pub mod account_members;
pub mod accounts;
pub mod application_keys;
pub mod customers;
pub mod health;
pub mod inventories;
pub mod oauth;
pub mod realms;
