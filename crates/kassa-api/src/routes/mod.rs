pub mod application_keys;
pub mod customers;
pub mod health;
pub mod oauth;
