pub mod application_keys;
pub mod currencies;
pub mod health;
pub mod hierarchies;
pub mod oauth;
mod pcm;
pub mod pricebooks;
pub mod products;
