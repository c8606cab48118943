pub mod application_keys;
pub mod health;
pub mod oauth;
