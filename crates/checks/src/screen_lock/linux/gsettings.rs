//! GNOME, Budgie, Cinnamon and MATE: the screen-lock keys resolved as GSettings over dconf does.
//!
//! dconf (engine/dconf-engine.c): the profile lists databases, the first writable (the user's)
//! then read-only system databases in priority order. For a key, the highest-numbered source
//! other than the first whose `.locks` holds the key fixes the level; without a lock the user's
//! value wins; otherwise the first value from that level on. GSettings then discards a value
//! of the wrong GVariant type in favour of the schema default (not the next database) and
//! falls back to the schema default, possibly per desktop, when no database has a value.

use std::rc::Rc;

use posture_host::ReadError;
use posture_host::gvdb::{Gvdb, GvdbError, Table, Value, Variant};

use posture_schema::{Enforcer, Setting};

use super::Context;
use super::sessions::{Desktop, Family};
use crate::accounts::Account;
use crate::enforcement;
use crate::evidence;
use crate::screen_lock::LockSetting;

/// The packaged schemas: the last directory GLib looks in, and the one named when none has any.
const SCHEMAS: &str = "/usr/share/glib-2.0/schemas/gschemas.compiled";

/// One `gschemas.compiled` of GLib's search path, read or not.
enum SchemaFile {
    Read {
        path: String,
        bytes: Rc<[u8]>,
    },
    /// It exists (or may) but could not be read: whatever it defines is unknown.
    Failed {
        path: String,
        why: String,
    },
}

/// The compiled schema files GLib consults for this user, highest priority first
/// (gio/gsettingsschema.c, `initialise_schema_sources`): `$XDG_DATA_HOME/glib-2.0/schemas`, then
/// each `$XDG_DATA_DIRS` entry in order. Those variables live in the session's environment,
/// which files do not show, so their defaults are used: `~/.local/share`, then
/// `/usr/local/share`, then `/usr/share`. A directory counts only when its `gschemas.compiled`
/// opens as a GVDB file (GLib skips the others silently); for each schema the first directory
/// that has it wins, so a schema a user compiled into `~/.local/share` replaces the packaged
/// defaults without any dconf database saying so. `$GSETTINGS_SCHEMA_DIR` would come first, but
/// it too is only in a session's environment.
fn schema_files(cx: &mut Context<'_>, account: &Account) -> Vec<SchemaFile> {
    let user = format!(
        "{}/.local/share/glib-2.0/schemas/gschemas.compiled",
        account.home.trim_end_matches('/')
    );
    let candidates = [
        (user, true),
        (
            "/usr/local/share/glib-2.0/schemas/gschemas.compiled".to_owned(),
            false,
        ),
        (SCHEMAS.to_owned(), false),
    ];
    let mut files = Vec::new();
    for (path, per_user) in candidates {
        let ev = match cx.read(&path) {
            Ok(bytes) => match Gvdb::new(&bytes).and_then(|db| db.root()).map(|_| ()) {
                Ok(()) => {
                    files.push(SchemaFile::Read {
                        path: path.clone(),
                        bytes,
                    });
                    Some("read: schema defaults and key types (GLib uses the first directory that has a schema)".to_owned())
                }
                Err(e) => Some(format!("not a compiled schema file ({e}): GLib skips it")),
            },
            Err(ReadError::NotFound) => {
                if path == SCHEMAS && files.is_empty() {
                    Some(format!(
                        "{}: keys no database sets are unknown",
                        evidence::read_failure(&path, &ReadError::NotFound)
                    ))
                } else {
                    None
                }
            }
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                files.push(SchemaFile::Failed {
                    path: path.clone(),
                    why: why.clone(),
                });
                Some(format!("{why}: schemas it may define are unknown"))
            }
        };
        if let Some(value) = ev {
            let ev = evidence::file(&path, None, value);
            if per_user {
                cx.about(account, ev);
            } else if cx.first_time(if path == SCHEMAS {
                "schemas"
            } else {
                "local schemas"
            }) {
                cx.push(ev);
            }
        }
    }
    files
}

/// The table of one schema from the first schema file that has it, with that file's path.
/// `None` when no schema file could be read at all.
fn lookup_schema<'a>(
    files: &'a [SchemaFile],
    schema: &str,
) -> (String, Option<Result<Option<Table<'a>>, String>>) {
    for file in files {
        match file {
            SchemaFile::Read { path, bytes } => {
                match Gvdb::new(bytes)
                    .and_then(|db| db.root())
                    .and_then(|root| root.table(schema))
                {
                    Ok(Some(t)) => return (path.clone(), Some(Ok(Some(t)))),
                    Ok(None) => {}
                    Err(e) => return (path.clone(), Some(Err(e.to_string()))),
                }
            }
            SchemaFile::Failed { path, why } => return (path.clone(), Some(Err(why.clone()))),
        }
    }
    if files.is_empty() {
        (SCHEMAS.to_owned(), None)
    } else {
        (SCHEMAS.to_owned(), Some(Ok(None)))
    }
}

/// One GSettings key: schema id, key name, the dconf directory used when the compiled schema
/// cannot say, and the GVariant type.
struct Key {
    schema: &'static str,
    name: &'static str,
    dir: &'static str,
    ty: &'static str,
}

/// The keys that decide one family's lock, and the unit of its delays.
struct Keys {
    idle: Key,
    lock_enabled: Key,
    lock_delay: Key,
    disable: Key,
    /// MATE's screensaver starts on idle only when this is true.
    idle_activation: Option<Key>,
    /// Seconds per unit of idle-delay and lock-delay (MATE counts minutes).
    unit: u64,
}

const fn key(schema: &'static str, name: &'static str, dir: &'static str, ty: &'static str) -> Key {
    Key {
        schema,
        name,
        dir,
        ty,
    }
}

fn keys_of(family: &Family) -> Keys {
    match family {
        Family::Cinnamon => Keys {
            idle: key(
                "org.cinnamon.desktop.session",
                "idle-delay",
                "/org/cinnamon/desktop/session/",
                "u",
            ),
            lock_enabled: key(
                "org.cinnamon.desktop.screensaver",
                "lock-enabled",
                "/org/cinnamon/desktop/screensaver/",
                "b",
            ),
            lock_delay: key(
                "org.cinnamon.desktop.screensaver",
                "lock-delay",
                "/org/cinnamon/desktop/screensaver/",
                "u",
            ),
            disable: key(
                "org.cinnamon.desktop.lockdown",
                "disable-lock-screen",
                "/org/cinnamon/desktop/lockdown/",
                "b",
            ),
            idle_activation: None,
            unit: 1,
        },
        Family::Mate => Keys {
            idle: key(
                "org.mate.session",
                "idle-delay",
                "/org/mate/desktop/session/",
                "i",
            ),
            lock_enabled: key(
                "org.mate.screensaver",
                "lock-enabled",
                "/org/mate/screensaver/",
                "b",
            ),
            lock_delay: key(
                "org.mate.screensaver",
                "lock-delay",
                "/org/mate/screensaver/",
                "i",
            ),
            disable: key(
                "org.mate.lockdown",
                "disable-lock-screen",
                "/org/mate/desktop/lockdown/",
                "b",
            ),
            idle_activation: Some(key(
                "org.mate.screensaver",
                "idle-activation-enabled",
                "/org/mate/screensaver/",
                "b",
            )),
            unit: 60,
        },
        // GNOME, Ubuntu and Budgie share the GNOME keys.
        _ => Keys {
            idle: key(
                "org.gnome.desktop.session",
                "idle-delay",
                "/org/gnome/desktop/session/",
                "u",
            ),
            lock_enabled: key(
                "org.gnome.desktop.screensaver",
                "lock-enabled",
                "/org/gnome/desktop/screensaver/",
                "b",
            ),
            lock_delay: key(
                "org.gnome.desktop.screensaver",
                "lock-delay",
                "/org/gnome/desktop/screensaver/",
                "u",
            ),
            disable: key(
                "org.gnome.desktop.lockdown",
                "disable-lock-screen",
                "/org/gnome/desktop/lockdown/",
                "b",
            ),
            idle_activation: None,
            unit: 1,
        },
    }
}

/// One dconf database of a profile.
struct Source {
    /// "user database", "system database local", ...
    label: String,
    path: String,
    writable: bool,
    /// The file's bytes; `None` when it does not exist (dconf then reads it as empty).
    bytes: Option<Rc<[u8]>>,
    /// For a system database `NAME`: the lock files under `/etc/dconf/db/NAME.d/locks` and the
    /// keys each names. They act only once `dconf update` compiles them into the database.
    lock_files: Vec<(String, Vec<String>)>,
}

/// The user's dconf profile: where it was read and its databases.
struct Profile {
    /// The profile file in effect; `None` when there is none (the user database only).
    path: Option<String>,
    sources: Vec<Source>,
    /// System databases of `/etc/dconf/profile/user` that a user-writable profile in effect
    /// (`$XDG_RUNTIME_DIR/dconf/profile`) leaves out: their locks do not apply.
    shadowed: Vec<Source>,
}

impl Profile {
    /// Whether the profile in effect is the mandatory one (`/run/dconf/user/UID`), which only
    /// root writes and which no environment variable can replace.
    fn mandatory(&self, account: &Account) -> bool {
        self.path.as_deref() == Some(format!("/run/dconf/user/{}", account.uid).as_str())
    }

    /// Whether the user can write the profile in effect (the runtime profile).
    fn user_writable(&self, account: &Account) -> bool {
        self.path.as_deref() == Some(format!("/run/user/{}/dconf/profile", account.uid).as_str())
    }
}

impl Source {
    fn db(&self) -> Option<Gvdb<'_>> {
        self.bytes.as_deref().and_then(|b| Gvdb::new(b).ok())
    }

    fn value(&self, key: &str) -> Result<Option<Variant>, GvdbError> {
        match self.db() {
            Some(db) => db.root()?.value(key),
            None => Ok(None),
        }
    }

    fn locks(&self, key: &str) -> Result<bool, GvdbError> {
        let Some(db) = self.db() else {
            return Ok(false);
        };
        match db.root()?.table(".locks")? {
            Some(locks) => Ok(locks.get(key)?.is_some()),
            None => Ok(false),
        }
    }
}

/// The effective value of one key, or why it is unknown.
enum Resolved {
    Value(Value),
    Unknown(String),
}

pub(super) fn judge(cx: &mut Context<'_>, account: &Account, desktop: &Desktop) -> LockSetting {
    let profile = match profile_sources(cx, account) {
        Ok(s) => s,
        Err(reason) => return LockSetting::Unknown { reason },
    };
    note_uncompiled_keyfiles(cx);
    let schemas = schema_files(cx, account);
    let keys = keys_of(&desktop.family);
    let mut read = |k: &Key| resolve(cx, account, &profile, &schemas, desktop, k);

    let idle = read(&keys.idle);
    let enabled = read(&keys.lock_enabled);
    let delay = read(&keys.lock_delay);
    let disabled = read(&keys.disable);
    let activation = keys.idle_activation.as_ref().map(&mut read);

    if let Resolved::Value(Value::Bool(true)) = disabled {
        return never(format!(
            "{} disable-lock-screen is true (locking is disabled)",
            keys.disable.schema
        ));
    }
    if let Resolved::Value(Value::Bool(false)) = enabled {
        return never(format!(
            "{} lock-enabled is false",
            keys.lock_enabled.schema
        ));
    }
    if let Some(Resolved::Value(Value::Bool(false))) = activation {
        return never("org.mate.screensaver idle-activation-enabled is false (the screensaver never starts on idle)".to_owned());
    }
    let idle_units = match &idle {
        Resolved::Value(v) => number(v),
        Resolved::Unknown(_) => None,
    };
    if idle_units == Some(0) {
        return never(format!(
            "{} idle-delay is 0 (the session never goes idle)",
            keys.idle.schema
        ));
    }
    for r in [&idle, &enabled, &delay, &disabled]
        .into_iter()
        .chain(activation.as_ref())
    {
        if let Resolved::Unknown(reason) = r {
            return LockSetting::Unknown {
                reason: reason.clone(),
            };
        }
    }
    let (Some(idle_units), Resolved::Value(delay_value)) = (idle_units, &delay) else {
        return LockSetting::Unknown {
            reason: "idle-delay or lock-delay is not a number".to_owned(),
        };
    };
    let Some(delay_units) = number(delay_value) else {
        return LockSetting::Unknown {
            reason: "lock-delay is not a number".to_owned(),
        };
    };
    // A negative MATE delay is out of its schema range; GSettings would not accept it.
    let (Ok(idle_units), Ok(delay_units)) = (u64::try_from(idle_units), u64::try_from(delay_units))
    else {
        return LockSetting::Unknown {
            reason: "idle-delay or lock-delay is negative".to_owned(),
        };
    };

    if desktop.family == Family::Gnome
        && let Some(reason) = gdm_missing(cx, account, desktop)
    {
        return reason;
    }

    let unit = if keys.unit == 60 { "min" } else { "s" };
    LockSetting::LocksAfter {
        seconds: (idle_units + delay_units).saturating_mul(keys.unit),
        how: format!("idle-delay {idle_units} {unit} + lock-delay {delay_units} {unit}"),
    }
}

fn never(reason: String) -> LockSetting {
    LockSetting::NeverLocks { reason }
}

fn number(v: &Value) -> Option<i64> {
    match v {
        Value::U32(n) => Some(i64::from(*n)),
        Value::I32(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// GNOME Shell creates its lock screen only when GDM answers on the system bus
/// (`LoginManager.canLock()`): GNOME started from another display manager or `startx` shows
/// settings that say "lock" while nothing locks. Files cannot see the bus, so: a session opened
/// by GDM's PAM service proves GDM; a boot display manager that is not GDM, or no GDM installed
/// at all, proves the lock is not real, and that is a failure (the machine does not lock), not
/// an unknown. A read error leaves it unknown.
fn gdm_missing(cx: &mut Context<'_>, account: &Account, desktop: &Desktop) -> Option<LockSetting> {
    if let Some(service) = &desktop.service
        && service.starts_with("gdm")
    {
        cx.about(
            account,
            evidence::derived(
                "GDM",
                format!("the session was opened by GDM (PAM service {service})"),
            ),
        );
        return None;
    }
    const LINK: &str = "/etc/systemd/system/display-manager.service";
    match cx.read_link(LINK) {
        Ok(target) => {
            let unit = target.rsplit('/').next().unwrap_or(&target).to_owned();
            cx.about(account, evidence::file(LINK, None, format!("-> {target}")));
            if unit.starts_with("gdm") {
                return None;
            }
            return Some(never(format!(
                "the display manager is {unit}, not GDM, and GNOME Shell locks the screen only when GDM is running"
            )));
        }
        Err(ReadError::NotFound | ReadError::NotALink) => {}
        Err(e) => {
            return Some(LockSetting::Unknown {
                reason: evidence::read_failure(LINK, &e),
            });
        }
    }
    for bin in [
        "/usr/sbin/gdm3",
        "/usr/sbin/gdm",
        "/usr/bin/gdm3",
        "/usr/bin/gdm",
    ] {
        match cx.present(bin) {
            Ok(true) => {
                cx.about(
                    account,
                    evidence::file(bin, None, "present (GDM installed)"),
                );
                return None;
            }
            Ok(false) => {}
            Err(e) => {
                return Some(LockSetting::Unknown {
                    reason: evidence::read_failure(bin, &e),
                });
            }
        }
    }
    cx.about(
        account,
        evidence::derived(
            "GDM",
            "not installed: no display-manager.service link, no gdm or gdm3 binary",
        ),
    );
    Some(never(
        "GDM is not installed, and GNOME Shell locks the screen only when GDM is running"
            .to_owned(),
    ))
}

/// The databases of the user's dconf profile, opened.
fn profile_sources(cx: &mut Context<'_>, account: &Account) -> Result<Profile, String> {
    // dconf's order: the mandatory profile, `$DCONF_PROFILE` (session environment, which
    // files do not show, so not consulted), the runtime profile, then the profile named "user".
    let candidates = [
        format!("/run/dconf/user/{}", account.uid),
        format!("/run/user/{}/dconf/profile", account.uid),
        "/etc/dconf/profile/user".to_owned(),
        "/usr/local/share/dconf/profile/user".to_owned(),
        "/usr/share/dconf/profile/user".to_owned(),
    ];
    let mut lines: Option<(String, Vec<String>)> = None;
    for path in candidates {
        match cx.text(&path) {
            Ok(text) => {
                let parsed = parse_profile(&text);
                cx.about(
                    account,
                    evidence::file(&path, None, format!("dconf profile: {}", parsed.join(", "))),
                );
                lines = Some((path, parsed));
                break;
            }
            Err(ReadError::NotFound) => {}
            Err(e) => {
                let why = evidence::read_failure(&path, &e);
                cx.about(account, evidence::file(&path, None, why.clone()));
                return Err(why);
            }
        }
    }
    let (path, lines) = match lines {
        Some((p, l)) => (Some(p), l),
        None => {
            cx.about(
                account,
                evidence::derived(
                    "dconf profile",
                    "no profile file (/etc/dconf/profile/user absent): the user database only; system databases in /etc/dconf/db are not consulted",
                ),
            );
            (None, vec!["user-db:user".to_owned()])
        }
    };
    let sources = open_sources(cx, account, &lines)?;
    let mut profile = Profile {
        path,
        sources,
        shadowed: Vec::new(),
    };
    if profile.user_writable(account) {
        // The user's runtime profile replaces the administrator's: what that one locks does
        // not apply, and is listed as defeated.
        if let Ok(text) = cx.text(ADMIN_PROFILE) {
            let admin: Vec<String> = parse_profile(&text)
                .into_iter()
                .filter(|l| l.starts_with("system-db:") && !lines.contains(l))
                .collect();
            profile.shadowed = open_sources(cx, account, &admin).unwrap_or_default();
        }
    }
    Ok(profile)
}

/// The administrator's profile, which `$DCONF_PROFILE` or a runtime profile can replace.
const ADMIN_PROFILE: &str = "/etc/dconf/profile/user";

/// Opens the databases of profile lines.
fn open_sources(
    cx: &mut Context<'_>,
    account: &Account,
    lines: &[String],
) -> Result<Vec<Source>, String> {
    let mut sources = Vec::new();
    for line in lines {
        let Some((kind, name)) = line.split_once(':') else {
            continue;
        };
        let (label, path, writable) = match kind {
            "user-db" => (
                "user database".to_owned(),
                format!("{}/dconf/{name}", super::config_home(account)),
                true,
            ),
            "service-db" => (
                format!("service database {name}"),
                format!("/run/user/{}/dconf-service/{name}", account.uid),
                true,
            ),
            "system-db" => (
                format!("system database {name}"),
                format!("/etc/dconf/db/{name}"),
                false,
            ),
            "file-db" => (format!("file database {name}"), name.to_owned(), false),
            // dconf ignores sources it does not know, with a warning.
            _ => continue,
        };
        let bytes = match cx.read(&path) {
            Ok(b) => {
                if let Err(e) = Gvdb::new(&b).and_then(|db| db.root()) {
                    let why = format!("{path} ({label}) is not a readable dconf database: {e}");
                    cx.about(account, evidence::file(&path, None, why.clone()));
                    return Err(why);
                }
                Some(b)
            }
            Err(ReadError::NotFound) => {
                cx.about(
                    account,
                    evidence::file(&path, None, format!("absent ({label}): sets nothing")),
                );
                None
            }
            Err(e) => {
                let why = format!("{} ({label})", evidence::read_failure(&path, &e));
                cx.about(account, evidence::file(&path, None, why.clone()));
                return Err(why);
            }
        };
        let lock_files = if kind == "system-db" {
            lock_files(cx, name)
        } else {
            Vec::new()
        };
        sources.push(Source {
            label,
            path,
            writable,
            bytes,
            lock_files,
        });
    }
    Ok(sources)
}

/// The lock files of system database `name` (`/etc/dconf/db/NAME.d/locks/*`) and the keys each
/// names, one per line (comments and blanks skipped). Unreadable ones are left out: they can
/// only add a note, never an enforcement.
fn lock_files(cx: &mut Context<'_>, name: &str) -> Vec<(String, Vec<String>)> {
    let dir = format!("/etc/dconf/db/{name}.d/locks");
    let Ok(mut names) = cx.list_dir(&dir) else {
        return Vec::new();
    };
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            let path = format!("{dir}/{n}");
            let text = cx.text(&path).ok()?;
            let keys = text
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .map(str::to_owned)
                .collect();
            Some((path, keys))
        })
        .collect()
}

/// Profile lines without comments and blanks.
fn parse_profile(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Keyfiles under `/etc/dconf/db/NAME.d` act only once `dconf update` compiles them into
/// `/etc/dconf/db/NAME`, whose content is what was judged; list them so a reader of the
/// evidence does not mistake them for the effective state.
fn note_uncompiled_keyfiles(cx: &mut Context<'_>) {
    if !cx.first_time("dconf keyfiles") {
        return;
    }
    let Ok(names) = cx.list_dir("/etc/dconf/db") else {
        return;
    };
    for dir in names.iter().filter(|n| n.ends_with(".d")) {
        let path = format!("/etc/dconf/db/{dir}");
        let mut files: Vec<String> = cx.list_dir(&path).unwrap_or_default();
        if let Ok(locks) = cx.list_dir(&format!("{path}/locks")) {
            files.retain(|f| f != "locks");
            files.extend(locks.into_iter().map(|l| format!("locks/{l}")));
        }
        let db = dir.trim_end_matches(".d");
        cx.push(evidence::directory(
            &path,
            format!(
                "keyfiles {}: they count only as compiled into /etc/dconf/db/{db} by `dconf update`; the compiled database is what was judged",
                files.join(", ")
            ),
        ));
    }
}

/// One key, resolved as dconf and GSettings do, with its evidence.
fn resolve(
    cx: &mut Context<'_>,
    account: &Account,
    profile: &Profile,
    schemas: &[SchemaFile],
    desktop: &Desktop,
    key: &Key,
) -> Resolved {
    let sources = profile.sources.as_slice();
    let (schema_path, schema) = lookup_schema(schemas, key.schema);
    // The dconf path comes from the compiled schema's `.path` (MATE's schema ids and paths
    // differ); the built-in directory is used only when the schema cannot say.
    let dir = match &schema {
        Some(Ok(Some(t))) => match t.value(".path") {
            Ok(Some(Variant {
                value: Value::Str(_, p),
                ..
            })) => p,
            _ => key.dir.to_owned(),
        },
        _ => key.dir.to_owned(),
    };
    let path = format!("{dir}{}", key.name);

    // Step 1: the highest source after the first that locks the key.
    let mut lock_level = 0;
    for (i, s) in sources.iter().enumerate().skip(1).rev() {
        match s.locks(&path) {
            Ok(true) => {
                lock_level = i;
                break;
            }
            Ok(false) => {}
            Err(e) => {
                return unknown(
                    cx,
                    account,
                    &s.path,
                    &path,
                    format!("locks unreadable: {e}"),
                );
            }
        }
    }
    // Step 2: without a lock, the writable first source (the user's) wins when it has a value.
    let mut found: Option<(&Source, Variant)> = None;
    if lock_level == 0
        && let Some(first) = sources.first().filter(|s| s.writable)
    {
        match first.value(&path) {
            Ok(Some(v)) => found = Some((first, v)),
            Ok(None) => {}
            Err(e) => {
                return unknown(
                    cx,
                    account,
                    &first.path,
                    &path,
                    format!("unreadable value: {e}"),
                );
            }
        }
    }
    // Step 3: the first value from the lock level (or the second source) on.
    if found.is_none() {
        for s in sources.iter().skip(lock_level.max(1)) {
            match s.value(&path) {
                Ok(Some(v)) => {
                    found = Some((s, v));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    return unknown(
                        cx,
                        account,
                        &s.path,
                        &path,
                        format!("unreadable value: {e}"),
                    );
                }
            }
        }
    }
    let lock_note = match sources.get(lock_level) {
        Some(s) if lock_level > 0 => format!("locked in {}", s.label),
        _ => "not locked".to_owned(),
    };
    let expected = match &schema {
        Some(Ok(Some(t))) => match t.value(key.name) {
            Ok(Some(Variant {
                value: Value::Tuple(m),
                ..
            })) => m
                .first()
                .map_or_else(|| key.ty.to_owned(), Value::type_string),
            _ => key.ty.to_owned(),
        },
        _ => key.ty.to_owned(),
    };

    let discarded = match found {
        Some((s, v)) if v.type_string == expected => {
            cx.about(
                account,
                evidence::file(
                    &s.path,
                    Some(&path),
                    format!("{} ({}; {lock_note})", v.value, s.label),
                ),
            );
            let setting = enforcement_of(
                account,
                profile,
                lock_level,
                &path,
                v.value.to_string(),
                format!("{} ({})", s.path, s.label),
                !s.writable,
            );
            cx.settings.push(setting);
            return Resolved::Value(v.value);
        }
        Some((s, v)) => {
            cx.about(
                account,
                evidence::file(
                    &s.path,
                    Some(&path),
                    format!(
                        "{} ({}; {lock_note}): wrong type {}, expected {expected}, so GSettings uses the schema default",
                        v.value, s.label, v.type_string
                    ),
                ),
            );
            true
        }
        None => false,
    };

    // The schema default, per desktop when the schema has one for a component of
    // XDG_CURRENT_DESKTOP (the first matching component wins, as in GLib).
    let why_default = if discarded {
        "the stored value has the wrong type"
    } else if lock_level > 0 {
        "locked without a value"
    } else {
        "no database sets it"
    };
    let entry = match schema {
        Some(Ok(Some(t))) => t.value(key.name),
        Some(Ok(None)) => {
            return unknown(
                cx,
                account,
                &schema_path,
                &path,
                format!("{why_default}, and schema {} is not installed", key.schema),
            );
        }
        Some(Err(e)) => {
            return unknown(
                cx,
                account,
                &schema_path,
                &path,
                format!("{why_default}, and the schemas are unreadable: {e}"),
            );
        }
        None => {
            return unknown(
                cx,
                account,
                &schema_path,
                &path,
                format!("{why_default}, and the schema defaults could not be read"),
            );
        }
    };
    let members = match entry {
        Ok(Some(Variant {
            value: Value::Tuple(m),
            ..
        })) => m,
        Ok(_) => {
            return unknown(
                cx,
                account,
                &schema_path,
                &path,
                format!(
                    "{why_default}, and schema {} has no key {}",
                    key.schema, key.name
                ),
            );
        }
        Err(e) => {
            return unknown(
                cx,
                account,
                &schema_path,
                &path,
                format!("{why_default}, and its schema entry is unreadable: {e}"),
            );
        }
    };
    let mut members = members.into_iter();
    let Some(mut default) = members.next() else {
        return unknown(
            cx,
            account,
            &schema_path,
            &path,
            format!("{why_default}, and its schema entry is empty"),
        );
    };
    let mut default_note = "schema default".to_owned();
    if let Some(per_desktop) = members.find_map(|m| per_desktop_defaults(&m))
        && let Some((name, v)) = desktop
            .components
            .iter()
            .find_map(|c| per_desktop.iter().find(|(n, _)| n == c).cloned())
    {
        default = v;
        default_note = format!("schema default for desktop {name}");
    }
    cx.about(
        account,
        evidence::file(
            &schema_path,
            Some(&path),
            format!("{default} ({default_note}; {why_default}; {lock_note})"),
        ),
    );
    let setting = enforcement_of(
        account,
        profile,
        lock_level,
        &path,
        default.to_string(),
        format!("{schema_path} ({default_note})"),
        false,
    );
    cx.settings.push(setting);
    Resolved::Value(default)
}

/// The setting of dconf key `path` with its enforcement: a lock in a system database of the
/// profile in effect enforces it (removable by the user unless the profile is the mandatory
/// one, since `$DCONF_PROFILE` can replace the administrator's); a lock file never compiled
/// into its database, or a lock of a database the user's own runtime profile leaves out,
/// enforces nothing and is listed as such.
fn enforcement_of(
    account: &Account,
    profile: &Profile,
    lock_level: usize,
    path: &str,
    value: String,
    source: String,
    from_system_db: bool,
) -> Setting {
    if let Some(db) = profile.sources.get(lock_level).filter(|_| lock_level > 0) {
        let (removable, note) = if profile.mandatory(account) {
            (Enforcer::BY_LOCAL_ADMIN, None)
        } else if profile.user_writable(account) {
            (
                Enforcer::BY_USER,
                Some(format!(
                    "the profile in effect, /run/user/{}/dconf/profile, is the user's own: they can drop {} from it",
                    account.uid, db.label
                )),
            )
        } else {
            (
                Enforcer::BY_USER,
                Some(format!(
                    "the profile is {}; a DCONF_PROFILE or runtime profile the user sets replaces it (only /run/dconf/user/{} is mandatory)",
                    profile.path.as_deref().unwrap_or(ADMIN_PROFILE),
                    account.uid
                )),
            )
        };
        let by = enforcement::by(
            Enforcer::DCONF_LOCK,
            db.path.clone(),
            Some(db.label.clone()),
            removable,
        );
        let mut setting = enforcement::enforced(path, value, source, vec![by]);
        setting.notes.extend(note);
        return setting;
    }
    let mut setting = enforcement::user_set(path, value, source);
    // Locks that name the key but do not act: never compiled, or in a database the profile in
    // effect leaves out.
    for db in profile.sources.iter().skip(1) {
        for (file, keys) in &db.lock_files {
            if keys.iter().any(|k| k == path) {
                let mut by = enforcement::by(
                    Enforcer::DCONF_LOCK,
                    file.clone(),
                    Some(db.label.clone()),
                    Enforcer::BY_LOCAL_ADMIN,
                );
                by.value = Some("locked (not compiled)".to_owned());
                setting.enforced_by.push(by);
                setting.notes.push(format!(
                    "{file} locks this key, but {} was not compiled with it (`dconf update` was not run after): nothing enforces it",
                    db.path
                ));
            }
        }
    }
    for db in &profile.shadowed {
        let locked = db.locks(path).unwrap_or(false);
        if locked {
            let mut by = enforcement::by(
                Enforcer::DCONF_LOCK,
                db.path.clone(),
                Some(db.label.clone()),
                Enforcer::BY_USER,
            );
            if let Ok(Some(v)) = db.value(path) {
                by.value = Some(v.value.to_string());
            }
            setting.enforced_by.push(by);
            setting.notes.push(format!(
                "{} locks this key, but the profile in effect is the user's own /run/user/{}/dconf/profile, which leaves that database out: the lock is defeated",
                db.path, account.uid
            ));
        }
    }
    if from_system_db && setting.enforced_by.is_empty() {
        setting.notes.push(
            "set by a system database without a lock: a default the user can change".to_owned(),
        );
    }
    setting
}

/// The `('d', a{sv})` extra of a schema key: per-desktop defaults.
fn per_desktop_defaults(extra: &Value) -> Option<Vec<(String, Value)>> {
    let Value::Tuple(parts) = extra else {
        return None;
    };
    let [Value::Byte(b'd'), Value::Array(_, entries)] = parts.as_slice() else {
        return None;
    };
    Some(
        entries
            .iter()
            .filter_map(|e| match e {
                Value::DictEntry(k, v) => match (&**k, &**v) {
                    (Value::Str(_, name), Value::Variant(inner)) => {
                        Some((name.clone(), inner.value.clone()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect(),
    )
}

fn unknown(
    cx: &mut Context<'_>,
    account: &Account,
    source: &str,
    key: &str,
    why: String,
) -> Resolved {
    cx.about(account, evidence::file(source, Some(key), why.clone()));
    Resolved::Unknown(format!("{key}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_comments_and_blank_lines_are_ignored() {
        assert_eq!(
            parse_profile("# admin\nuser-db:user\n\n  system-db:local # site\n"),
            ["user-db:user", "system-db:local"]
        );
    }
}
