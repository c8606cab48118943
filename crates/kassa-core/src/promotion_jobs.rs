//! Rule promotion jobs (`/v2/rule-promotions/{id}/jobs`): `code_generate` and `code_export`.
//! Elastic Path queues them; kassa runs each at once, so a job is `completed` when it is first
//! answered and none can be cancelled. An export's CSV is kept with its job and downloaded
//! through the unguessable link `GET …/jobs/{id}/file` answers.

use serde_json::Value;
use uuid::Uuid;

use crate::promotions::PromotionCode;
use crate::query::{Filter, FilterOp, check_filters};
use crate::time::{Millis, rfc3339};

/// A job as kept: what it was asked (`job_type`, `name`, `parameters`) and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionJob {
    pub id: Uuid,
    pub promotion_id: Uuid,
    /// `code_generate` or `code_export`.
    pub job_type: String,
    pub name: String,
    pub parameters: Value,
    /// Always `completed` in kassa.
    pub status: String,
    /// `{generated, deleted}` for a generate job; `null` otherwise.
    pub result: Value,
    /// An export's file: the secret its link names, and its CSV.
    pub file_token: Option<String>,
    pub file: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// The filters `GET …/jobs` takes: `eq` on `job_type` and `status`.
pub fn check_job_filters(filters: &[Filter]) -> crate::Result<()> {
    check_filters(
        filters,
        &[("job_type", &[FilterOp::Eq]), ("status", &[FilterOp::Eq])],
    )
}

/// Whether a job passes every filter (checked by [`check_job_filters`]).
pub fn job_matches(job: &PromotionJob, filters: &[Filter]) -> bool {
    filters.iter().all(|f| match f.field.as_str() {
        "job_type" => job.job_type == f.value(),
        // EP's own example filters `eq(status, complete)`: read as `completed`.
        "status" => job.status == f.value() || (f.value() == "complete" && job.status == "completed"),
        _ => true,
    })
}

/// A job may be cancelled only while pending or processing, which a kassa job never is
/// (otherwise 422 `Only pending or processing jobs can be cancelled.`).
pub fn may_cancel(job: &PromotionJob) -> bool {
    matches!(job.status.as_str(), "pending" | "processing")
}

/// The CSV a `code_export` job makes: a header and one row per code, oldest first. Fields that
/// could hold a comma or quote are quoted (a code never does: codes have no `/`, and commas and
/// quotes are escaped all the same).
pub fn export_csv(codes: &[PromotionCode]) -> String {
    let mut out = String::from(
        "code,uses,max_uses,consume_unit,max_uses_per_shopper,includes_guests,is_for_new_shopper,user,created_at\n",
    );
    let opt = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for c in codes {
        let row = [
            quote(&c.code),
            c.uses.to_string(),
            opt(c.max_uses),
            c.consume_unit.as_str().to_owned(),
            opt(c.max_uses_per_shopper),
            c.includes_guests.to_string(),
            c.is_for_new_shopper.to_string(),
            c.user.map(|u| u.to_string()).unwrap_or_default(),
            rfc3339(c.created_at),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promotions::ConsumeUnit;

    fn job(kind: &str, status: &str) -> PromotionJob {
        PromotionJob {
            id: Uuid::nil(),
            promotion_id: Uuid::nil(),
            job_type: kind.into(),
            name: String::new(),
            parameters: Value::Null,
            status: status.into(),
            result: Value::Null,
            file_token: None,
            file: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn filters_and_cancels() {
        let f = |field: &str, v: &str| Filter {
            op: FilterOp::Eq,
            field: field.into(),
            values: vec![v.into()],
        };
        // (job, filters) → matches
        let cases = [
            (
                job("code_export", "completed"),
                vec![f("job_type", "code_export")],
                true,
            ),
            (
                job("code_generate", "completed"),
                vec![f("job_type", "code_export")],
                false,
            ),
            (
                job("code_export", "completed"),
                vec![f("status", "complete")],
                true,
            ),
            (
                job("code_export", "completed"),
                vec![f("status", "failed")],
                false,
            ),
            (job("code_export", "completed"), vec![], true),
        ];
        for (j, filters, want) in cases {
            assert_eq!(job_matches(&j, &filters), want, "{filters:?}");
        }
        assert!(check_job_filters(&[f("name", "x")]).is_err());
        assert!(check_job_filters(&[f("status", "completed")]).is_ok());
        assert!(!may_cancel(&job("code_export", "completed")));
        assert!(may_cancel(&job("code_export", "pending")));
    }

    #[test]
    fn exports_every_code_as_a_csv_row() {
        let code = |code: &str, max: Option<i64>| PromotionCode {
            id: Uuid::nil(),
            promotion_id: Uuid::nil(),
            code: code.into(),
            uses: 2,
            max_uses: max,
            user: None,
            consume_unit: ConsumeUnit::PerCheckout,
            max_uses_per_shopper: None,
            includes_guests: false,
            is_for_new_shopper: false,
            created_at: 0,
        };
        let csv = export_csv(&[code("SUMMER", Some(5)), code("A,\"B\"", None)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("code,uses,max_uses,"));
        assert!(
            lines[1].starts_with("SUMMER,2,5,per_checkout,,false,false,,1970-01-01T00:00:00"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("\"A,\"\"B\"\"\",2,,"), "{}", lines[2]);
    }
}
