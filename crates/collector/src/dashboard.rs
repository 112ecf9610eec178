//! The web dashboard: server-rendered HTML that works without JavaScript.
//!
//! Sign-in exchanges the admin token (or a one-time login link made through the API) for a
//! session cookie that is `HttpOnly` and `SameSite=Strict` (and `Secure` under TLS). Every form
//! that changes something is a POST carrying the session's CSRF token, and a POST whose `Origin`
//! names another site is refused.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use posture_schema::{Posture, Report, Status};
use serde::Deserialize;

use crate::admin_api::{csv_response, device_filter, export_source, is_local_path};
use crate::app::{ApiError, AppState, admin_token_matches, csrf_matches, now_ms};
use crate::credentials::{generate_secret, hash_secret};
use crate::display::{age, day_before, rfc3339, skew};
use crate::export::{devices_csv_body, export_filter, findings_csv_body};
use crate::store::{
    AssetState, AssetUpdate, DeviceFilter, DeviceSummary, LatestFinding, ReportTrigger, Session,
    StatusChange,
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "posture_session";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/devices/{id}", get(device_page))
        .route("/devices/{id}/asset", post(update_asset))
        .route("/devices/{id}/check-now", post(check_now))
        .route("/export/devices.csv", get(export_devices))
        .route("/export/findings.csv", get(export_findings))
        .route("/login", get(login_page).post(login))
        .route("/login/link", get(login_link_page).post(login_link))
        .route("/assets/login-link.js", get(login_link_script))
        .route("/logout", post(logout))
}

/// A dashboard failure: either "go and sign in" or an error page.
enum PageError {
    SignIn(String),
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(next) => {
                let target = format!("/login?next={}", percent_encode(&next));
                Redirect::to(&target).into_response()
            }
            Self::Api(err) => {
                let status = err.status();
                let mut response = err.into_response();
                let body = format!(
                    "<!DOCTYPE html><title>{code}</title><h1>{code}</h1><p><a href=\"/\">Back to the fleet</a></p>",
                    code = status
                );
                *response.body_mut() = axum::body::Body::from(body);
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                response
            }
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// The signed-in session, or a redirect to the sign-in page that comes back to `here`.
async fn require_session(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
) -> Result<Session, PageError> {
    let Some(token) = session_cookie(headers) else {
        return Err(PageError::SignIn(here.to_owned()));
    };
    state
        .store
        .session(&hash_secret(token), now_ms())
        .await?
        .ok_or_else(|| PageError::SignIn(here.to_owned()))
}

/// For POSTs: a session, a matching CSRF token, and no foreign `Origin`.
async fn require_form_session(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, PageError> {
    if !same_origin(headers, state.config.public_origin.as_deref()) {
        return Err(ApiError::Forbidden("cross-site form submission".into()).into());
    }
    let session = require_session(state, headers, "/").await?;
    if !csrf_matches(&session.csrf_token, csrf) {
        return Err(ApiError::Forbidden("missing or wrong CSRF token".into()).into());
    }
    Ok(session)
}

/// A request without `Origin` (older browsers, curl) passes. With a public origin configured
/// (`--public-url`, for a reverse proxy that rewrites `Host`), `Origin` must be that origin;
/// without one, its host must be `Host`.
fn same_origin(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if let Some(public) = public_origin {
        return origin.trim_end_matches('/').eq_ignore_ascii_case(public);
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

fn set_cookie(state: &AppState, value: &str, max_age_secs: u64) -> HeaderValue {
    let behind_https_proxy = state
        .config
        .public_origin
        .as_deref()
        .is_some_and(|o| o.starts_with("https://"));
    let secure = if state.config.secure_cookies || behind_https_proxy {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn start_session(state: &AppState, next: &str) -> Result<Response, PageError> {
    let token = generate_secret().map_err(ApiError::from)?;
    let ttl = state.config.session_ttl;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    state
        .store
        .create_session(
            &hash_secret(&token),
            &Session {
                csrf_token: generate_secret().map_err(ApiError::from)?,
                expires_at: now_ms().saturating_add(ttl_ms),
            },
        )
        .await?;
    let target = if is_local_path(next) { next } else { "/" };
    let mut response = Redirect::to(target).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(state, &token, ttl.as_secs()));
    Ok(response)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(Query(q): Query<NextQuery>) -> Result<Html<String>, PageError> {
    render(&LoginPage {
        error: None,
        next: q
            .next
            .filter(|n| is_local_path(n))
            .unwrap_or_else(|| "/".into()),
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    if !same_origin(&headers, state.config.public_origin.as_deref()) {
        return Err(ApiError::Forbidden("cross-site form submission".into()).into());
    }
    if !admin_token_matches(&state, &form.token).await? {
        tracing::info!("dashboard sign-in refused");
        let page = render(&LoginPage {
            error: Some("That is not the admin token.".into()),
            next: form.next,
        })?;
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    start_session(&state, &form.next).await
}

#[derive(Template)]
#[template(path = "login_link.html")]
struct LoginLinkPage {
    error: Option<String>,
}

/// The page a login link opens. The token is in the link's fragment, which the browser keeps to
/// itself; the page's script posts it (or the user pastes it).
async fn login_link_page() -> Result<Html<String>, PageError> {
    render(&LoginLinkPage { error: None })
}

async fn login_link_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/login-link.js"),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct LinkForm {
    token: String,
}

async fn login_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    if !same_origin(&headers, state.config.public_origin.as_deref()) {
        return Err(ApiError::Forbidden("cross-site form submission".into()).into());
    }
    match state
        .store
        .consume_login_link(&hash_secret(form.token.trim()), now_ms())
        .await?
    {
        Some(next) => start_session(&state, &next).await,
        None => {
            let page = render(&LoginLinkPage {
                error: Some("This login link has expired or was already used.".into()),
            })?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_form_session(&state, &headers, &form.csrf).await?;
    if let Some(token) = session_cookie(&headers) {
        state.store.delete_session(&hash_secret(token)).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", 0));
    Ok(response)
}

fn render<T: Template>(page: &T) -> Result<Html<String>, PageError> {
    page.render()
        .map(Html)
        .map_err(|e| PageError::Api(ApiError::Internal(format!("template: {e}"))))
}

/// The dashboard's filter form: every field is text, since an empty form field is sent as an
/// empty string.
#[derive(Debug, Default, Deserialize)]
struct FilterForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    check: String,
    #[serde(default)]
    check_status: String,
    #[serde(default)]
    enforced: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    stale_days: String,
}

impl FilterForm {
    fn to_filter(&self) -> DeviceFilter {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        DeviceFilter {
            status: text(&self.status),
            check: text(&self.check),
            check_status: text(&self.check_status),
            enforced: text(&self.enforced),
            os: text(&self.os),
            owner: text(&self.owner),
            hostname: text(&self.hostname),
            state: text(&self.state),
            stale_days: self.stale_days.trim().parse().ok(),
            limit: Some(1000),
            ..DeviceFilter::default()
        }
    }
}

struct SelectOption {
    value: String,
    label: String,
    selected: bool,
}

fn options(current: &str, choices: &[(&str, &str)]) -> Vec<SelectOption> {
    choices
        .iter()
        .map(|(value, label)| SelectOption {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == current,
        })
        .collect()
}

struct DeviceRow {
    id: String,
    hostname: String,
    owner: String,
    users: String,
    state: String,
    os: String,
    posture: String,
    failing: String,
    since: String,
    last_seen: String,
    /// `3 h ahead` when the device's clock was off beyond the limit in its latest report.
    clock_skew: String,
    /// The agent judged its latest report with another policy than the fleet's.
    policy_mismatch: bool,
}

fn device_row(d: &DeviceSummary, now: i64) -> DeviceRow {
    DeviceRow {
        id: d.id.clone(),
        hostname: d.hostname.clone(),
        owner: d.owner.clone().unwrap_or_default(),
        users: d.users.clone().unwrap_or_default(),
        state: d.state.clone(),
        os: d
            .os
            .clone()
            .or_else(|| d.os_family.clone())
            .unwrap_or_default(),
        posture: d.posture.map_or("never", Posture::as_str).to_owned(),
        failing: d.failing_checks.join(", "),
        since: d
            .noncompliant_since
            .map(|t| format!("{} ({})", rfc3339(t), age(t, now)))
            .unwrap_or_default(),
        last_seen: d
            .last_seen_at
            .map(|t| age(t, now))
            .unwrap_or_else(|| "never".into()),
        clock_skew: d.clock_skew_ms.map(skew).unwrap_or_default(),
        policy_mismatch: d.policy_mismatch,
    }
}

struct EventRow {
    at: String,
    what: String,
    old_value: String,
    new_value: String,
    report_id: String,
}

fn event_row(e: &crate::store::DeviceEvent) -> EventRow {
    let what = match e.kind.as_str() {
        "machine_id_changed" => "machine id changed (not applied)",
        "serial_changed" => "serial number changed (not applied)",
        "os_family_changed" => "operating system family changed (not applied)",
        other => other,
    };
    EventRow {
        at: rfc3339(e.at),
        what: what.to_owned(),
        old_value: e.old_value.clone().unwrap_or_default(),
        new_value: e.new_value.clone().unwrap_or_default(),
        report_id: e.report_id.clone().unwrap_or_default(),
    }
}

#[derive(Default)]
struct PostureCounts {
    compliant: i64,
    noncompliant: i64,
    unknown: i64,
    never: i64,
}

struct CheckRow {
    check_id: String,
    title: String,
    pass: i64,
    fail: i64,
    unknown: i64,
    not_applicable: i64,
    /// "62% enforced": the share of passing devices whose pass management enforces; empty
    /// when no device passes.
    enforced_share: String,
    /// Passing devices whose pass is not (fully) enforced: `not_enforced` and `partly`.
    pass_not_enforced: i64,
}

struct DayRow {
    day: String,
    compliant: i64,
    noncompliant: i64,
    unknown: i64,
    compliant_px: i64,
    noncompliant_px: i64,
    unknown_px: i64,
}

struct FilterEcho {
    owner: String,
    hostname: String,
    stale_days: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    csrf: String,
    stale_days: u32,
    counts: PostureCounts,
    checks: Vec<CheckRow>,
    days: Vec<DayRow>,
    devices: Vec<DeviceRow>,
    stale: Vec<DeviceRow>,
    filter: FilterEcho,
    status_options: Vec<SelectOption>,
    check_options: Vec<SelectOption>,
    check_status_options: Vec<SelectOption>,
    enforced_options: Vec<SelectOption>,
    os_options: Vec<SelectOption>,
    state_options: Vec<SelectOption>,
}

async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(form): Query<FilterForm>,
) -> Result<Html<String>, PageError> {
    let session = require_session(&state, &headers, "/").await?;
    let now = now_ms();
    let summary = state.store.fleet_summary(&day_before(now, 30)).await?;

    let mut counts = PostureCounts::default();
    for c in &summary.by_posture {
        match c.key.as_str() {
            "compliant" => counts.compliant = c.count,
            "noncompliant" => counts.noncompliant = c.count,
            "unknown" => counts.unknown = c.count,
            _ => counts.never += c.count,
        }
    }
    let mut checks: Vec<CheckRow> = Vec::new();
    for c in &summary.by_check {
        if checks.last().is_none_or(|r| r.check_id != c.check_id) {
            checks.push(CheckRow {
                check_id: c.check_id.clone(),
                title: c.title.clone(),
                pass: 0,
                fail: 0,
                unknown: 0,
                not_applicable: 0,
                enforced_share: String::new(),
                pass_not_enforced: 0,
            });
        }
        if let Some(row) = checks.last_mut() {
            match c.status.as_str() {
                "pass" => row.pass += c.count,
                "fail" => row.fail += c.count,
                "not_applicable" => row.not_applicable += c.count,
                _ => row.unknown += c.count,
            }
        }
    }
    // From the maintained counters, like the counts above.
    for p in &summary.pass_enforcement {
        if let Some(row) = checks.iter_mut().find(|r| r.check_id == p.check_id) {
            if p.passing > 0 {
                row.enforced_share = format!("{}% enforced", p.enforced_percent);
            }
            row.pass_not_enforced = p.not_enforced + p.partly;
        }
    }
    let mut days: Vec<DayRow> = Vec::new();
    for c in &summary.by_day {
        if days.last().is_none_or(|r| r.day != c.day) {
            days.push(DayRow {
                day: c.day.clone(),
                compliant: 0,
                noncompliant: 0,
                unknown: 0,
                compliant_px: 0,
                noncompliant_px: 0,
                unknown_px: 0,
            });
        }
        if let Some(row) = days.last_mut() {
            match c.posture.as_str() {
                "compliant" => row.compliant += c.count,
                "noncompliant" => row.noncompliant += c.count,
                _ => row.unknown += c.count,
            }
        }
    }
    let widest = days
        .iter()
        .map(|d| d.compliant + d.noncompliant + d.unknown)
        .max()
        .unwrap_or(1)
        .max(1);
    for d in &mut days {
        d.compliant_px = d.compliant * 300 / widest;
        d.noncompliant_px = d.noncompliant * 300 / widest;
        d.unknown_px = d.unknown * 300 / widest;
    }
    days.reverse();

    let devices = state.store.list_devices(&form.to_filter(), now).await?;
    let stale_days = state.config.stale_days;
    let stale = state
        .store
        .list_devices(
            &DeviceFilter {
                stale_days: Some(stale_days),
                limit: Some(200),
                ..DeviceFilter::default()
            },
            now,
        )
        .await?;

    let mut check_choices: Vec<(String, String)> = vec![(String::new(), "any".into())];
    for c in &checks {
        check_choices.push((c.check_id.clone(), c.title.clone()));
    }
    if !form.check.is_empty() && !check_choices.iter().any(|(v, _)| *v == form.check) {
        check_choices.push((form.check.clone(), form.check.clone()));
    }
    let check_refs: Vec<(&str, &str)> = check_choices
        .iter()
        .map(|(v, l)| (v.as_str(), l.as_str()))
        .collect();

    render(&IndexPage {
        csrf: session.csrf_token,
        stale_days,
        counts,
        checks,
        days,
        devices: devices.iter().map(|d| device_row(d, now)).collect(),
        stale: stale.iter().map(|d| device_row(d, now)).collect(),
        filter: FilterEcho {
            owner: form.owner.clone(),
            hostname: form.hostname.clone(),
            stale_days: form.stale_days.clone(),
        },
        status_options: options(
            &form.status,
            &[
                ("", "any"),
                ("noncompliant", "non-compliant"),
                ("compliant", "compliant"),
                ("unknown", "unknown"),
                ("never", "never reported"),
            ],
        ),
        check_options: options(&form.check, &check_refs),
        check_status_options: options(
            &form.check_status,
            &[
                ("", "failing"),
                ("pass", "passing"),
                ("unknown", "unknown"),
                ("error", "error"),
                ("not_applicable", "not applicable"),
            ],
        ),
        enforced_options: options(
            &form.enforced,
            &[
                ("", "any"),
                ("true", "enforced"),
                ("false", "not enforced"),
                ("unknown", "unknown"),
            ],
        ),
        os_options: options(
            &form.os,
            &[
                ("", "any"),
                ("linux", "Linux"),
                ("macos", "macOS"),
                ("windows", "Windows"),
            ],
        ),
        state_options: options(
            &form.state,
            &[
                ("", "in service"),
                ("active", "active"),
                ("lost", "lost"),
                ("retired", "retired"),
                ("all", "all"),
            ],
        ),
    })
}

struct SubjectView {
    kind: String,
    name: String,
    status: String,
    summary: String,
    /// Whether management enforces this subject's verdict (`enforced`, `not enforced`,
    /// `unknown`), empty when the report says nothing about it.
    enforced: String,
    settings: Vec<SettingView>,
}

/// One setting of a subject with what enforces it, as the device page shows it.
struct SettingView {
    name: String,
    value: String,
    source: String,
    enforced: String,
    /// What manages it: `dconf lock /etc/dconf/db/local (removable by user)`, one per entry.
    by: Vec<String>,
}

/// The words of an enforcement state on the device page and in exports.
fn enforcement_words(e: Option<posture_schema::Enforced>) -> String {
    e.map(|e| e.as_str().to_owned()).unwrap_or_default()
}

fn setting_view(s: &posture_schema::Setting) -> SettingView {
    SettingView {
        name: s.name.clone(),
        value: s.value.clone(),
        source: s.source.clone(),
        enforced: s.enforced.as_str().to_owned(),
        by: s
            .enforced_by
            .iter()
            .map(|e| {
                let mut words = format!("{} {}", e.kind, e.id);
                if let Some(n) = &e.name {
                    words.push_str(&format!(" ({n})"));
                }
                words.push_str(&format!(", removable by {}", e.removable_by));
                if let Some(v) = &e.value {
                    words.push_str(&format!(", asks for {v}"));
                }
                words
            })
            .chain(s.notes.iter().map(|n| format!("note: {n}")))
            .collect(),
    }
}

struct EvidenceView {
    kind: String,
    source: String,
    key: String,
    value: String,
    subject: String,
}

struct FindingView {
    id: String,
    title: String,
    clause: String,
    status: String,
    summary: String,
    /// Whether management enforces what the verdict rests on; empty when not reported.
    enforced: String,
    /// When the status last changed, by the collector's clock, with its age.
    changed_at: String,
    /// Why the agent made the report that changed it, when it said.
    change: String,
    subjects: Vec<SubjectView>,
    evidence: Vec<EvidenceView>,
    remediation: Vec<String>,
}

struct HistoryRow {
    generated: String,
    received: String,
    posture: String,
    report_id: String,
    trigger: String,
}

/// Why a report was made, in words: `after a change on the device (/etc/fstab changed),
/// detected 2026-11-23T10:00:00Z by the device's clock`. Empty for a scheduled report.
fn trigger_words(
    kind: Option<&str>,
    cause: Option<&str>,
    detected_at_agent_clock: Option<i64>,
) -> String {
    let Some(kind) = kind else {
        return String::new();
    };
    let mut words = match kind {
        posture_schema::Trigger::CHANGE => "after a change on the device".to_owned(),
        posture_schema::Trigger::CHECK_NOW => "after a check-now request".to_owned(),
        other => format!("trigger {other}"),
    };
    if let Some(cause) = cause {
        words.push_str(&format!(" ({cause})"));
    }
    if let Some(at) = detected_at_agent_clock {
        words.push_str(&format!(", detected {} by the device's clock", rfc3339(at)));
    }
    words
}

fn change_words(c: &StatusChange) -> String {
    trigger_words(
        c.change_trigger.as_deref(),
        c.change_cause.as_deref(),
        c.change_detected_at_agent_clock,
    )
}

fn report_trigger_words(t: Option<&ReportTrigger>) -> String {
    t.map(|t| trigger_words(Some(&t.kind), t.cause.as_deref(), t.detected_at_agent_clock))
        .unwrap_or_default()
}

fn changed_at(l: &LatestFinding, now: i64) -> String {
    format!(
        "{} ({})",
        rfc3339(l.change.changed_at),
        age(l.change.changed_at, now)
    )
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    csrf: String,
    stale_days: u32,
    d: DeviceRow,
    hardware: String,
    serial: String,
    machine_id: String,
    enrolled_at: String,
    agent_version: String,
    token_active: bool,
    last_report: String,
    policy: String,
    note: String,
    check_now: String,
    state_options: Vec<SelectOption>,
    findings: Vec<FindingView>,
    history: Vec<HistoryRow>,
    events: Vec<EventRow>,
}

async fn device_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let here = format!("/devices/{}", percent_encode(&id));
    let session = require_session(&state, &headers, &here).await?;
    let now = now_ms();
    let detail = state.store.device(&id).await?.ok_or(ApiError::NotFound)?;
    let history = state.store.history(&id, 50).await?;
    let report: Option<Report> = detail
        .latest_report
        .as_deref()
        .and_then(|body| serde_json::from_str(body).ok());

    // Failing checks first, then what could not be decided, then the rest.
    let rank = |status: Status| match status {
        Status::Fail => 0,
        Status::Error | Status::Unknown => 1,
        Status::Pass | Status::NotApplicable => 2,
    };
    let latest = |id: &str| detail.findings.iter().find(|l| l.finding.check_id == id);
    let mut findings: Vec<FindingView> = report
        .as_ref()
        .map(|r| {
            let mut checks: Vec<&posture_schema::Finding> = r.checks.iter().collect();
            checks.sort_by_key(|f| rank(f.status));
            checks
                .into_iter()
                .map(|f| FindingView {
                    id: f.id.clone(),
                    title: f.title.clone(),
                    clause: f.clause.clone(),
                    status: f.status.as_str().to_owned(),
                    summary: f.summary.clone(),
                    enforced: enforcement_words(f.enforcement()),
                    changed_at: latest(&f.id)
                        .map(|l| changed_at(l, now))
                        .unwrap_or_default(),
                    change: latest(&f.id)
                        .map(|l| change_words(&l.change))
                        .unwrap_or_default(),
                    subjects: f
                        .subjects
                        .iter()
                        .map(|s| SubjectView {
                            kind: s.kind.clone(),
                            name: s.name.clone(),
                            status: s.status.as_str().to_owned(),
                            summary: s.summary.clone(),
                            enforced: enforcement_words(s.enforced),
                            settings: s.settings.iter().map(setting_view).collect(),
                        })
                        .collect(),
                    evidence: f
                        .evidence
                        .iter()
                        .map(|e| EvidenceView {
                            kind: serde_json::to_value(e.kind)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default(),
                            source: e.source.clone(),
                            key: e.key.clone().unwrap_or_default(),
                            value: e.value.clone(),
                            subject: e.subject.clone().unwrap_or_default(),
                        })
                        .collect(),
                    remediation: f.remediation.clone(),
                })
                .collect()
        })
        .unwrap_or_default();

    // Checks the fleet policy enables that the latest report lacks: the collector judged them
    // unknown.
    for missing in detail.findings.iter().filter(|l| {
        report
            .as_ref()
            .is_some_and(|r| !r.checks.iter().any(|f| f.id == l.finding.check_id))
    }) {
        findings.insert(
            0,
            FindingView {
                id: missing.finding.check_id.clone(),
                title: missing.finding.title.clone(),
                clause: missing.finding.clause.clone(),
                status: missing.finding.status.as_str().to_owned(),
                summary: missing.finding.summary.clone(),
                enforced: String::new(),
                changed_at: changed_at(missing, now),
                change: change_words(&missing.change),
                subjects: Vec::new(),
                evidence: Vec::new(),
                remediation: Vec::new(),
            },
        );
    }

    let inv = &detail.inventory;
    let hardware = [inv.hw_vendor.as_deref(), inv.hw_model.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    render(&DevicePage {
        csrf: session.csrf_token,
        stale_days: state.config.stale_days,
        d: device_row(&detail.summary, now),
        hardware,
        serial: inv.hw_serial.clone().unwrap_or_default(),
        machine_id: detail.machine_id.clone(),
        enrolled_at: rfc3339(detail.enrolled_at),
        agent_version: detail.agent_version.clone(),
        token_active: detail.token_active,
        last_report: detail
            .summary
            .last_report_at
            .map(|t| format!("{} ({})", rfc3339(t), age(t, now)))
            .unwrap_or_else(|| "none".into()),
        policy: report
            .as_ref()
            .map(|r| {
                format!(
                    "{} {} ({})",
                    r.policy.name, r.policy.version, r.policy.digest
                )
            })
            .unwrap_or_default(),
        note: detail.note.clone().unwrap_or_default(),
        check_now: detail
            .summary
            .check_now_requested_at
            .map(|t| age(t, now))
            .unwrap_or_default(),
        state_options: options(
            &detail.summary.state,
            &[
                ("active", "active"),
                ("lost", "lost"),
                ("retired", "retired"),
            ],
        ),
        findings,
        history: history
            .iter()
            .map(|h| HistoryRow {
                generated: rfc3339(h.generated_at),
                received: rfc3339(h.received_at),
                posture: h.posture.as_str().to_owned(),
                report_id: h.report_id.clone(),
                trigger: report_trigger_words(h.trigger.as_ref()),
            })
            .collect(),
        events: detail.events.iter().map(event_row).collect(),
    })
}

#[derive(Debug, Deserialize)]
struct AssetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    note: String,
}

async fn update_asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AssetForm>,
) -> Result<Response, PageError> {
    require_form_session(&state, &headers, &form.csrf).await?;
    if form.owner.len() > 1024 || form.note.len() > 1024 {
        return Err(
            ApiError::Unprocessable("owner and note are limited to 1024 bytes".into()).into(),
        );
    }
    let update = AssetUpdate {
        owner: Some(form.owner.replace('\0', "")),
        note: Some(form.note.replace('\0', "")),
        state: AssetState::parse(&form.state),
    };
    if !state.store.update_asset(&id, &update, now_ms()).await? {
        return Err(ApiError::NotFound.into());
    }
    tracing::info!(device_id = %id, "asset record updated from the dashboard");
    Ok(Redirect::to(&format!("/devices/{}", percent_encode(&id))).into_response())
}

async fn check_now(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    require_form_session(&state, &headers, &form.csrf).await?;
    if !state.store.request_check_now(&id, now_ms()).await? {
        return Err(ApiError::NotFound.into());
    }
    tracing::info!(device_id = %id, "check-now requested from the dashboard");
    Ok(Redirect::to(&format!("/devices/{}", percent_encode(&id))).into_response())
}

async fn export_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, PageError> {
    require_session(&state, &headers, "/").await?;
    let filter = export_filter(device_filter(query)?, true);
    Ok(csv_response(
        "devices.csv",
        devices_csv_body(export_source(&state, filter)),
    ))
}

async fn export_findings(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeviceFilter>, QueryRejection>,
) -> Result<Response, PageError> {
    require_session(&state, &headers, "/").await?;
    let filter = export_filter(device_filter(query)?, false);
    Ok(csv_response(
        "findings.csv",
        findings_csv_body(export_source(&state, filter)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; posture_session=tok; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("tok"));
    }

    #[test]
    fn a_form_posted_from_another_site_is_not_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        assert!(same_origin(&h, None));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8443"),
        );
        assert!(same_origin(&h, None));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, None));
    }

    #[test]
    fn behind_a_proxy_the_public_origin_decides_not_host() {
        let mut h = HeaderMap::new();
        // nginx's default: the upstream address, not the name the browser used.
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://posture.example.com"),
        );
        assert!(!same_origin(&h, None));
        assert!(same_origin(&h, Some("https://posture.example.com")));
        assert!(!same_origin(&h, Some("https://other.example.com")));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8443"),
        );
        assert!(!same_origin(&h, Some("https://posture.example.com")));
    }

    #[test]
    fn an_empty_filter_field_means_no_filter() {
        let form = FilterForm {
            status: "noncompliant".into(),
            stale_days: String::new(),
            ..FilterForm::default()
        };
        let filter = form.to_filter();
        assert_eq!(filter.status.as_deref(), Some("noncompliant"));
        assert_eq!(filter.stale_days, None);
        assert_eq!(filter.owner, None);
    }
}
