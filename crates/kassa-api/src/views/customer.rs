//! Customers.

use crate::error::ApiError;

pub(crate) fn customer_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Customer not found")
}
