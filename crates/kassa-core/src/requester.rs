//! Who is asking, as the access rules see it: the access token's client, whether it is an admin
//! (`client_credentials`), and the account member or customer a shopper token names. The API
//! reads it once per request from the tokens; every access rule for carts and orders is a method
//! here, so each exists once.

use uuid::Uuid;

use crate::carts::{Cart, CartScope};
use crate::orders::{OrderAccess, OrderScope, order_scope};
use crate::{Error, Result};

/// The account a shopper acts for through an account management token, and the member acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountMember {
    pub account_id: Uuid,
    pub member_id: Uuid,
}

/// Who is asking (see the module documentation). A request never carries both an account and a
/// customer token: the API refuses that before a `Requester` exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The access token's subject: the application key's client id.
    pub client: String,
    /// A `client_credentials` token.
    pub admin: bool,
    pub account: Option<AccountMember>,
    /// The customer of an `X-Moltin-Customer-Token`.
    pub customer: Option<Uuid>,
}

impl Requester {
    pub fn account_id(&self) -> Option<Uuid> {
        self.account.map(|a| a.account_id)
    }

    /// Which orders this requester may read ([`order_scope`]); `None`: none.
    pub fn order_scope(&self) -> Option<OrderScope> {
        order_scope(self.admin, self.account_id(), self.customer)
    }

    /// Whether this requester may read the order (and its transactions).
    pub fn may_see_order(&self, order: &crate::orders::PlacedOrder) -> bool {
        self.order_scope().is_some_and(|scope| scope.may_see(order))
    }

    /// Who may pay an order: whoever may read it, and anyone for a guest order.
    pub fn payer(&self) -> OrderAccess {
        OrderAccess {
            scope: self.order_scope(),
            guest_orders: true,
        }
    }

    /// Elastic Path's cart model: an associated cart belongs to its account/customer; an
    /// unassociated cart to whoever holds its id. An admin may use every cart.
    pub fn may_use_cart(&self, cart: &Cart) -> Result<()> {
        if self.admin {
            return Ok(());
        }
        if let Some(account) = cart.account_id
            && self.account_id() != Some(account)
        {
            return Err(Error::Forbidden(
                "Account does not have the required permissions to fulfill this request".into(),
            ));
        }
        if let Some(customer) = cart.customer_id
            && self.customer != Some(customer)
        {
            return Err(Error::Forbidden(
                "Customer does not have the required permissions to fulfill this request".into(),
            ));
        }
        Ok(())
    }

    /// Which carts `GET /v2/carts` lists: the shopper's own, or for an admin without a shopper
    /// token every associated cart; `None`: the request is refused.
    pub fn cart_listing(&self) -> Option<CartScope> {
        match (self.account_id(), self.customer) {
            (Some(account), _) => Some(CartScope::Account(account)),
            (None, Some(customer)) => Some(CartScope::Customer(customer)),
            (None, None) if self.admin => Some(CartScope::Associated),
            (None, None) => None,
        }
    }

    /// Whose `Idempotency-Key` replays a request may see: the client and the shopper token's
    /// subject.
    pub fn idempotency_scope(&self) -> String {
        let who = match (&self.account, &self.customer) {
            (Some(a), _) => format!("account:{}:{}", a.account_id, a.member_id),
            (None, Some(c)) => format!("customer:{c}"),
            (None, None) => "-".to_owned(),
        };
        format!("{}|{who}", self.client)
    }
}
