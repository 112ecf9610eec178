//! The fixed catalog of every command posture runs on macOS and Windows.
//!
//! Nothing else in posture builds a command line. Each constructor returns a
//! [`CommandSpec`] with an absolute program path, fixed arguments (no shell, no `PATH` lookup)
//! and a timeout; the host caps the output it keeps. The few commands that name a user or a
//! disk take a value that was validated here ([`ConsoleUser`], [`Sid`], [`DiskDevice`]), so no
//! text read from the machine reaches an argument list unchecked. `docs/command-catalog.md`
//! lists the same commands for administrators; keep the two in step.
//!
//! The catalog also finds the users whose settings are judged (the macOS console user, the
//! Windows users signed in interactively), because per-user commands may only be built from
//! what that discovery validated.

use std::time::Duration;

use posture_host::plist::{self, PlistValue};
use posture_host::reg::{self, RegKey, RegValue};
use posture_host::{CommandSpec, Host, ReadError};
use posture_schema::Evidence;

use crate::evidence;

/// Commands that enumerate disks or ask system_profiler take seconds on a busy Mac.
const SLOW: Duration = Duration::from_secs(30);
/// PowerShell itself takes one to three seconds to start.
const POWERSHELL_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Validated identities
// ---------------------------------------------------------------------------------------------

/// The user logged in at the macOS console: a short name of safe characters and a numeric id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    name: String,
    uid: u32,
}

impl ConsoleUser {
    /// Accepts a short name made of ASCII letters, digits, `.`, `_` and `-` (not starting with
    /// `-`, at most 64 characters) and a uid of 500 or more (regular users; root and system
    /// accounts own the console only at the login window or during setup).
    #[must_use]
    pub fn new(name: &str, uid: u32) -> Option<Self> {
        let safe = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        (safe && uid >= 500).then(|| Self {
            name: name.to_owned(),
            uid,
        })
    }

    /// The short name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The numeric user id.
    #[must_use]
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

/// A Windows security identifier of a local, domain or Entra ID user account
/// (`S-1-5-21-...` or `S-1-12-1-...`): only digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sid(String);

impl Sid {
    /// Accepts `S-1-5-21-` or `S-1-12-1-` followed by dash-separated decimal numbers, at most
    /// 184 characters (the longest SID Windows can form). Service and class-registration keys
    /// (`S-1-5-18`, `..._Classes`) are refused.
    #[must_use]
    pub fn new(text: &str) -> Option<Self> {
        let rest = text
            .strip_prefix("S-1-5-21-")
            .or_else(|| text.strip_prefix("S-1-12-1-"))?;
        let ok = text.len() <= 184
            && !rest.is_empty()
            && rest.split('-').all(|part| {
                !part.is_empty() && part.len() <= 10 && part.bytes().all(|b| b.is_ascii_digit())
            });
        ok.then(|| Self(text.to_owned()))
    }

    /// The SID as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A macOS disk or partition device node, `/dev/diskN` or `/dev/diskNsM[sK]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskDevice(String);

impl DiskDevice {
    /// Accepts `/dev/disk` followed by digits and `s<digits>` slices.
    #[must_use]
    pub fn new(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/dev/disk")?;
        let mut parts = rest.split('s');
        let whole = parts.next()?;
        let numeric =
            |p: &str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
        (numeric(whole) && parts.all(numeric)).then(|| Self(path.to_owned()))
    }

    /// The device path.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// macOS
// ---------------------------------------------------------------------------------------------

/// The directory where macOS writes the effective values of installed configuration profiles.
pub const MACOS_MANAGED_PREFERENCES: &str = "/Library/Managed Preferences";

/// `/usr/bin/stat -f "%Su %u" /dev/console`: who owns the console (the user logged in at the
/// screen; `root` at the login window). Used by screen lock and inventory.
#[must_use]
pub fn macos_console_owner() -> CommandSpec {
    CommandSpec::new("/usr/bin/stat", &["-f", "%Su %u", "/dev/console"])
}

/// `/usr/bin/sw_vers`: product name, version and build of macOS. Inventory.
#[must_use]
pub fn macos_sw_vers() -> CommandSpec {
    CommandSpec::new("/usr/bin/sw_vers", &[])
}

/// `/usr/sbin/system_profiler SPHardwareDataType -json`: model, serial number and hardware
/// UUID. Inventory.
#[must_use]
pub fn macos_hardware_overview() -> CommandSpec {
    CommandSpec::new(
        "/usr/sbin/system_profiler",
        &["SPHardwareDataType", "-json"],
    )
    .with_timeout(SLOW)
}

/// `/usr/sbin/scutil --get ComputerName`: the name shown in Sharing settings. Inventory.
#[must_use]
pub fn macos_computer_name() -> CommandSpec {
    CommandSpec::new("/usr/sbin/scutil", &["--get", "ComputerName"])
}

/// `/usr/bin/profiles status -type enrollment`: whether the Mac is enrolled in an MDM, via
/// Automated Device Enrollment or by the user. Inventory.
#[must_use]
pub fn macos_mdm_enrollment() -> CommandSpec {
    CommandSpec::new("/usr/bin/profiles", &["status", "-type", "enrollment"])
}

/// `/usr/bin/profiles -P -o stdout-xml`: the configuration profiles installed (device-wide under `_computerlevel`, per user under the user name),
/// with their payloads and whether the user may remove them (needs root). Run only when a
/// Managed Preferences file sets a value a check reads, to tell an MDM profile from a manual one
/// or from local MCX. Enforcement.
#[must_use]
pub fn macos_installed_profiles() -> CommandSpec {
    CommandSpec::new("/usr/bin/profiles", &["-P", "-o", "stdout-xml"]).with_timeout(SLOW)
}

/// `/usr/bin/fdesetup status`: FileVault on, off, encrypting, decrypting or deferred. Disk
/// encryption.
#[must_use]
pub fn macos_filevault_status() -> CommandSpec {
    CommandSpec::new("/usr/bin/fdesetup", &["status"])
}

/// `/usr/bin/pmset -g custom`: display sleep and system sleep minutes for each power source.
/// Screen lock.
#[must_use]
pub fn macos_power_settings() -> CommandSpec {
    CommandSpec::new("/usr/bin/pmset", &["-g", "custom"])
}

/// `/sbin/mount`: the mounted file systems, to find external volumes. Removable media.
#[must_use]
pub fn macos_mounts() -> CommandSpec {
    CommandSpec::new("/sbin/mount", &[])
}

/// `/usr/sbin/diskutil info -plist DEVICE`: whether a mounted volume (or an APFS container's
/// physical store) is internal, removable media, its bus, file system, encryption and
/// writability. Removable media and disk encryption.
#[must_use]
pub fn macos_volume_info(device: &DiskDevice) -> CommandSpec {
    CommandSpec::new("/usr/sbin/diskutil", &["info", "-plist", device.as_str()]).with_timeout(SLOW)
}

/// `/usr/sbin/diskutil apfs list -plist`: every APFS container, its physical store and its
/// volumes with their roles and `FileVault`, `Encryption`, `Locked` and `CryptoMigrationOn`
/// flags, to find internal volumes outside the startup volume group, which FileVault does not
/// cover. Disk encryption.
#[must_use]
pub fn macos_apfs_list() -> CommandSpec {
    CommandSpec::new("/usr/sbin/diskutil", &["apfs", "list", "-plist"]).with_timeout(SLOW)
}

/// Runs a program in the console user's launchd session as that user:
/// `/bin/launchctl asuser UID /usr/bin/sudo -u USER PROGRAM ARGS...`. Settings kept in the
/// user's keybag or preferences are only answered correctly inside their own session.
fn macos_as_user(user: &ConsoleUser, program: &str, args: &[&str]) -> CommandSpec {
    let uid = user.uid().to_string();
    let mut argv = vec![
        "asuser",
        uid.as_str(),
        "/usr/bin/sudo",
        "-u",
        user.name(),
        program,
    ];
    argv.extend_from_slice(args);
    CommandSpec::new("/bin/launchctl", &argv)
}

/// `sysadminctl -screenLock status` as the console user: whether a password is required after
/// the screen saver starts or the display sleeps, and after what delay (printed on standard
/// error). Screen lock.
#[must_use]
pub fn macos_screen_lock_status(user: &ConsoleUser) -> CommandSpec {
    macos_as_user(user, "/usr/sbin/sysadminctl", &["-screenLock", "status"])
}

/// `defaults -currentHost read com.apple.screensaver idleTime` as the console user: seconds of
/// inactivity before the screen saver starts (0 = never). Screen lock.
#[must_use]
pub fn macos_screensaver_idle_time(user: &ConsoleUser) -> CommandSpec {
    macos_as_user(
        user,
        "/usr/bin/defaults",
        &["-currentHost", "read", "com.apple.screensaver", "idleTime"],
    )
}

/// The Managed Preferences file of a preference domain, for the whole device or for one user.
/// These files are read, not run; they are listed in the catalog document too.
#[must_use]
pub fn macos_managed_preferences(domain: &str, user: Option<&ConsoleUser>) -> String {
    match user {
        Some(u) => format!("{MACOS_MANAGED_PREFERENCES}/{}/{domain}.plist", u.name()),
        None => format!("{MACOS_MANAGED_PREFERENCES}/{domain}.plist"),
    }
}

// ---------------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------------

const REG: &str = r"C:\Windows\System32\reg.exe";
const POWERCFG: &str = r"C:\Windows\System32\powercfg.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

/// Power setting GUIDs (aliases are translated in output, GUIDs are not).
pub mod power {
    /// SUB_SLEEP subgroup.
    pub const SUB_SLEEP: &str = "238c9fa8-0aad-41ed-83f4-97be242c8f20";
    /// STANDBYIDLE: sleep after N seconds.
    pub const STANDBYIDLE: &str = "29f6c1db-86da-48c5-9fdb-f2b67b1f44da";
    /// SUB_NONE subgroup.
    pub const SUB_NONE: &str = "fea3413e-7e05-4911-9a71-700331f1c294";
    /// CONSOLELOCK: require a password on wake-up.
    pub const CONSOLELOCK: &str = "0e796bdb-100d-47d6-a2d5-f7d2daa51f51";
    /// SUB_VIDEO subgroup.
    pub const SUB_VIDEO: &str = "7516b95f-f776-4464-8c53-06167f40cc99";
    /// VIDEOIDLE: turn the display off after N seconds.
    pub const VIDEOIDLE: &str = "3c0bc021-c8a8-4e07-a973-6b14cbcb2b7e";
}

/// Registry keys the probes read (abbreviated roots, as passed to `reg query`).
pub mod keys {
    /// Machine inactivity limit (`InactivityTimeoutSecs`).
    pub const SYSTEM_POLICIES: &str =
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System";
    /// Winlogon (only `ScreenSaverGracePeriod` is queried: this key may hold an auto-logon
    /// password, so it is never read whole).
    pub const WINLOGON: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon";
    /// Removable Storage Access group policy, machine scope.
    pub const REMOVABLE_STORAGE: &str =
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows\RemovableStorageDevices";
    /// The Removable Disks device class under the Removable Storage Access policy.
    pub const REMOVABLE_DISKS_CLASS: &str = "{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}";
    /// The USB mass-storage (Bulk-Only Transport) driver service (`Start` = 4: disabled).
    pub const USBSTOR: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\USBSTOR";
    /// The USB Attached SCSI driver service, which UAS drives load instead of `USBSTOR`.
    pub const UASPSTOR: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\UASPStor";
    /// BitLocker policy as group policy writes it.
    pub const FVE_POLICY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\FVE";
    /// BitLocker policy as the BitLocker CSP and older tools write it.
    pub const FVE_SYSTEM: &str = r"HKLM\SYSTEM\CurrentControlSet\Policies\Microsoft\FVE";
    /// MBAM's BitLocker management policy (`UseOsEnforcePolicy` = 1: the operating system
    /// drive must be encrypted, after `OsEnforcePolicyPeriod` days of grace).
    pub const MBAM_POLICY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\FVE\MDOPBitLockerManagement";
    /// MDM BitLocker CSP (`RequireDeviceEncryption` = 1: the device must be encrypted).
    pub const BITLOCKER_CSP: &str =
        r"HKLM\SOFTWARE\Microsoft\PolicyManager\current\device\BitLocker";
    /// MDM Storage CSP (`RemovableDiskDenyWriteAccess`).
    pub const STORAGE_CSP: &str = r"HKLM\SOFTWARE\Microsoft\PolicyManager\current\device\Storage";
    /// Group policy overrides of power settings, one subkey per setting GUID.
    pub const POWER_POLICY: &str = r"HKLM\SOFTWARE\Policies\Microsoft\Power\PowerSettings";
    /// MDM DeviceLock CSP (`MaxInactivityTimeDeviceLock`, minutes): a native CSP that never
    /// writes under `\Policies\`.
    pub const DEVICELOCK_CSP: &str =
        r"HKLM\SOFTWARE\Microsoft\PolicyManager\current\device\DeviceLock";
    /// MDM LocalPoliciesSecurityOptions CSP (`InteractiveLogon_MachineInactivityLimit`): an MDM
    /// trace behind `InactivityTimeoutSecs`.
    pub const SECURITY_OPTIONS_CSP: &str =
        r"HKLM\SOFTWARE\Microsoft\PolicyManager\current\device\LocalPoliciesSecurityOptions";
}

/// `reg.exe query KEY [ARGS] /reg:64`: `/reg:64` makes a 32-bit build read the 64-bit view
/// rather than `WOW6432Node`.
fn reg_query(key: &str, extra: &[&str]) -> CommandSpec {
    let mut argv = vec!["query", key];
    argv.extend_from_slice(extra);
    argv.push("/reg:64");
    CommandSpec::new(REG, &argv)
}

/// `reg.exe query KEY /reg:64`: the values of one machine-wide key from [`keys`].
#[must_use]
pub fn windows_reg_key(key: &'static str) -> CommandSpec {
    reg_query(key, &[])
}

/// `reg.exe query KEY /s /reg:64`: a machine-wide key from [`keys`] and all its subkeys.
#[must_use]
pub fn windows_reg_tree(key: &'static str) -> CommandSpec {
    reg_query(key, &["/s"])
}

/// `reg.exe query KEY /v NAME /reg:64`: one value of a machine-wide key from [`keys`].
#[must_use]
pub fn windows_reg_value(key: &'static str, name: &'static str) -> CommandSpec {
    reg_query(key, &["/v", name])
}

/// `reg.exe query HKU /reg:64`: the loaded user hives (one per signed-in or service account).
/// Screen lock, removable media and inventory.
#[must_use]
pub fn windows_loaded_hives() -> CommandSpec {
    reg_query("HKU", &[])
}

/// `reg.exe query "HKU\SID\Volatile Environment" /v USERNAME /reg:64`: present only for an
/// interactive logon session, with the account name.
#[must_use]
pub fn windows_user_session(sid: &Sid) -> CommandSpec {
    let key = format!(r"HKU\{}\Volatile Environment", sid.as_str());
    CommandSpec::new(REG, &["query", &key, "/v", "USERNAME", "/reg:64"])
}

/// `reg.exe query "HKU\SID\Volatile Environment" /v USERPROFILE /reg:64`: the profile folder
/// of a signed-in user (credentials: where 1Password, browsers and `.ssh` keep their files).
#[must_use]
pub fn windows_user_profile(sid: &Sid) -> CommandSpec {
    let key = format!(r"HKU\{}\Volatile Environment", sid.as_str());
    CommandSpec::new(REG, &["query", &key, "/v", "USERPROFILE", "/reg:64"])
}

/// `reg.exe query "HKU\SID\Control Panel\Desktop" /reg:64`: the user's screen saver settings.
#[must_use]
pub fn windows_user_desktop(sid: &Sid) -> CommandSpec {
    let key = format!(r"HKU\{}\Control Panel\Desktop", sid.as_str());
    CommandSpec::new(REG, &["query", &key, "/reg:64"])
}

/// `reg.exe query "HKU\SID\Software\Policies\Microsoft\Windows\Control Panel\Desktop" /reg:64`:
/// screen saver settings forced by policy for the user (they win over the user's own).
#[must_use]
pub fn windows_user_desktop_policy(sid: &Sid) -> CommandSpec {
    let key = format!(
        r"HKU\{}\Software\Policies\Microsoft\Windows\Control Panel\Desktop",
        sid.as_str()
    );
    CommandSpec::new(REG, &["query", &key, "/reg:64"])
}

/// `reg.exe query "HKU\SID\Software\Policies\Microsoft\Windows\RemovableStorageDevices" /s
/// /reg:64`: Removable Storage Access policy in the user's scope.
#[must_use]
pub fn windows_user_removable_storage(sid: &Sid) -> CommandSpec {
    let key = format!(
        r"HKU\{}\Software\Policies\Microsoft\Windows\RemovableStorageDevices",
        sid.as_str()
    );
    CommandSpec::new(REG, &["query", &key, "/s", "/reg:64"])
}

/// `reg.exe query HKLM\SOFTWARE\Policies\Microsoft\Power\PowerSettings\GUID /reg:64`: the group
/// policy override of one power setting from [`power`] (`ACSettingIndex`, `DCSettingIndex`).
#[must_use]
pub fn windows_power_policy(setting: &'static str) -> CommandSpec {
    let key = format!(r"{}\{setting}", keys::POWER_POLICY);
    CommandSpec::new(REG, &["query", &key, "/reg:64"])
}

/// `powercfg.exe /qh SCHEME_CURRENT SUBGROUP SETTING`: the active power plan's AC and DC values
/// of one setting from [`power`] (`/qh` includes hidden settings such as CONSOLELOCK).
#[must_use]
pub fn windows_power_setting(subgroup: &'static str, setting: &'static str) -> CommandSpec {
    CommandSpec::new(POWERCFG, &["/qh", "SCHEME_CURRENT", subgroup, setting])
}

/// `powercfg.exe /a`: the sleep states this PC offers. `Standby (S0 Low Power Idle)` among the
/// available ones means Modern Standby, where the session locks when the display turns off
/// (after the user's "If you've been away" delay), not on S3 sleep. Screen lock.
#[must_use]
pub fn windows_sleep_states() -> CommandSpec {
    CommandSpec::new(POWERCFG, &["/a"])
}

/// Runs a fixed PowerShell script: no profile, no prompts, errors end the script with exit
/// code 5 and the message on standard error, output as compressed UTF-8 JSON.
fn powershell(body: &str) -> CommandSpec {
    let script = format!(
        "$ErrorActionPreference='Stop';$ProgressPreference='SilentlyContinue';\
         [Console]::OutputEncoding=[Text.Encoding]::UTF8;\
         try{{{body}}}catch{{[Console]::Error.WriteLine($_.Exception.Message);exit 5}}"
    );
    CommandSpec::new(
        POWERSHELL,
        &["-NoProfile", "-NonInteractive", "-Command", &script],
    )
    .with_timeout(POWERSHELL_TIMEOUT)
}

/// PowerShell: every BitLocker volume from `Win32_EncryptableVolume` (needs Administrator or
/// SYSTEM) with the live answers of its `GetProtectionStatus`, `GetConversionStatus`,
/// `GetLockStatus` and the types (never the secrets) of its key protectors. Disk encryption and
/// removable media.
#[must_use]
pub fn windows_bitlocker_volumes() -> CommandSpec {
    powershell(
        "$ns='root\\CIMV2\\Security\\MicrosoftVolumeEncryption';\
         $r=@(Get-CimInstance -Namespace $ns -ClassName Win32_EncryptableVolume|ForEach-Object{\
         $v=$_;\
         $p=Invoke-CimMethod -InputObject $v -MethodName GetProtectionStatus;\
         $c=Invoke-CimMethod -InputObject $v -MethodName GetConversionStatus;\
         $l=Invoke-CimMethod -InputObject $v -MethodName GetLockStatus;\
         $k=Invoke-CimMethod -InputObject $v -MethodName GetKeyProtectors;\
         $t=@($k.VolumeKeyProtectorID|Where-Object{$_}|ForEach-Object{(Invoke-CimMethod -InputObject $v -MethodName GetKeyProtectorType -Arguments @{VolumeKeyProtectorID=$_}).KeyProtectorType});\
         [pscustomobject]@{DeviceID=$v.DeviceID;DriveLetter=$v.DriveLetter;VolumeType=$v.VolumeType;\
         ProtectionStatus=$p.ProtectionStatus;ConversionStatus=$c.ConversionStatus;\
         EncryptionPercentage=$c.EncryptionPercentage;EncryptionFlags=$c.EncryptionFlags;\
         LockStatus=$l.LockStatus;EncryptionMethod=$v.EncryptionMethod;ProtectorTypes=$t;\
         ReturnValues=@($p.ReturnValue,$c.ReturnValue,$l.ReturnValue)}});\
         ConvertTo-Json -InputObject $r -Depth 3 -Compress",
    )
}

/// PowerShell: the partitions of disks on the USB bus (`Get-Disk` `BusType` USB covers both USB
/// mass storage and UAS drives, and USB SSDs that call themselves fixed), with drive letter,
/// access paths, file system and whether the disk is read-only. Removable media.
#[must_use]
pub fn windows_usb_volumes() -> CommandSpec {
    powershell(
        "$r=@(Get-Disk|Where-Object{\"$($_.BusType)\" -eq 'USB'}|ForEach-Object{$d=$_;\
         Get-Partition -DiskNumber $d.Number -ErrorAction SilentlyContinue|ForEach-Object{\
         $vol=$_|Get-Volume -ErrorAction SilentlyContinue;\
         [pscustomobject]@{DiskNumber=$d.Number;Model=\"$($d.FriendlyName)\";IsReadOnly=$d.IsReadOnly;\
         DriveLetter=\"$($_.DriveLetter)\".Trim([char]0);AccessPaths=@($_.AccessPaths);\
         FileSystem=\"$($vol.FileSystem)\";DriveType=\"$($vol.DriveType)\"}}});\
         ConvertTo-Json -InputObject $r -Depth 3 -Compress",
    )
}

/// PowerShell: inventory in one call: computer name, Windows product, edition, display
/// version and build (from the registry, which is not translated), maker, model, BIOS serial
/// number, the console user, the machine GUID and MDM enrollments (`HKLM\SOFTWARE\Microsoft\
/// Enrollments` entries that name a provider).
#[must_use]
pub fn windows_inventory() -> CommandSpec {
    powershell(
        "$cv=Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion';\
         $cs=Get-CimInstance -ClassName Win32_ComputerSystem;\
         $bios=Get-CimInstance -ClassName Win32_BIOS;\
         $guid=(Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography').MachineGuid;\
         $e=@(Get-ChildItem -Path 'HKLM:\\SOFTWARE\\Microsoft\\Enrollments' -ErrorAction SilentlyContinue|\
         ForEach-Object{Get-ItemProperty -Path $_.PSPath}|Where-Object{$_.ProviderID}|ForEach-Object{\
         [pscustomobject]@{ProviderID=\"$($_.ProviderID)\";EnrollmentState=$_.EnrollmentState;UPN=\"$($_.UPN)\"}});\
         ConvertTo-Json -Depth 3 -Compress -InputObject ([pscustomobject]@{\
         ComputerName=[Environment]::MachineName;ProductName=$cv.ProductName;EditionID=$cv.EditionID;\
         DisplayVersion=$cv.DisplayVersion;CurrentBuild=$cv.CurrentBuild;UBR=$cv.UBR;\
         Manufacturer=$cs.Manufacturer;Model=$cs.Model;SerialNumber=$bios.SerialNumber;\
         UserName=$cs.UserName;MachineGuid=$guid;Enrollments=$e})",
    )
}

// --- begin device_access ---------------------------------------------------------------------

/// The login window's preferences: `autoLoginUser` (automatic login) and `GuestEnabled`. Read,
/// not run (a binary or XML property list, world-readable). Device access.
pub const MACOS_LOGINWINDOW_PLIST: &str = "/Library/Preferences/com.apple.loginwindow.plist";

/// The directory listed to see whether `/etc/kcpassword` (the automatic-login password, XORed
/// with a fixed key) exists; the file itself is never read. Device access.
pub const MACOS_KCPASSWORD_DIR: &str = "/etc";

/// `/bin/launchctl print-disabled system`: the system domain's services with a disabled or
/// enabled override (`"com.openssh.sshd" => enabled`): Remote Login and Screen Sharing. Device
/// access.
#[must_use]
pub fn macos_launchd_disabled() -> CommandSpec {
    CommandSpec::new("/bin/launchctl", &["print-disabled", "system"])
}

/// Registry keys read by the device access check.
pub mod access_keys {
    /// Remote Desktop's switch (`fDenyTSConnections`, 0 = connections allowed).
    pub const TERMINAL_SERVER: &str = r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server";
    /// Remote Desktop's group policy (`fDenyTSConnections`), which wins when set.
    pub const TERMINAL_SERVICES_POLICY: &str =
        r"HKLM\SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services";
}

/// PowerShell: the local accounts (`Get-LocalUser`: name, SID, enabled, whether a password is
/// required) and the OpenSSH server service's start type and state, if installed. No password
/// or hash is readable this way. Device access.
#[must_use]
pub fn windows_local_accounts() -> CommandSpec {
    powershell(
        "$u=@(Get-LocalUser|ForEach-Object{[pscustomobject]@{Name=\"$($_.Name)\";Sid=\"$($_.SID.Value)\";\
         Enabled=[bool]$_.Enabled;PasswordRequired=[bool]$_.PasswordRequired}});\
         $s=Get-Service -Name sshd -ErrorAction SilentlyContinue;\
         $ssh=if($s){[pscustomobject]@{StartType=\"$($s.StartType)\";Status=\"$($s.Status)\"}}else{$null};\
         ConvertTo-Json -Depth 3 -Compress -InputObject ([pscustomobject]@{Users=$u;Sshd=$ssh})",
    )
}

// --- end device_access -----------------------------------------------------------------------

// --- begin password_rules --------------------------------------------------------------------

/// `/usr/bin/pwpolicy -getaccountpolicies`: the global account policies (password content,
/// authentication, password change), a header line then an XML property list. Password rules.
#[must_use]
pub fn macos_pwpolicy_global() -> CommandSpec {
    CommandSpec::new("/usr/bin/pwpolicy", &["-getaccountpolicies"])
}

/// `/usr/bin/pwpolicy -u USER -getaccountpolicies`: the console user's own account policies
/// (a configuration profile can install them per user). Password rules.
#[must_use]
pub fn macos_pwpolicy_user(user: &ConsoleUser) -> CommandSpec {
    CommandSpec::new(
        "/usr/bin/pwpolicy",
        &["-u", user.name(), "-getaccountpolicies"],
    )
}

/// PowerShell: `secedit.exe /export /areas SECURITYPOLICY` into a fresh temporary file (read,
/// then deleted; it needs elevation), `RelaxMinimumPasswordLengthLimits`, the local accounts'
/// principal source (local or Microsoft account), and the Windows Hello PIN's
/// `MinimumPINLength` from group policy and from MDM. Password rules.
#[must_use]
pub fn windows_password_policy() -> CommandSpec {
    powershell(
        "$f=[IO.Path]::GetTempFileName();\
         try{$null=& 'C:\\Windows\\System32\\secedit.exe' /export /cfg $f /areas SECURITYPOLICY /quiet;$x=$LASTEXITCODE;\
         $inf=[IO.File]::ReadAllText($f)}finally{Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue};\
         $u=@(Get-LocalUser|ForEach-Object{[pscustomobject]@{Name=\"$($_.Name)\";Sid=\"$($_.SID.Value)\";Source=\"$($_.PrincipalSource)\"}});\
         $p=Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\PassportForWork\\PINComplexity' -ErrorAction SilentlyContinue;\
         $m=@(Get-ChildItem -Path 'HKLM:\\SOFTWARE\\Microsoft\\Policies\\PassportForWork' -Recurse -ErrorAction SilentlyContinue|\
         ForEach-Object{(Get-ItemProperty -Path $_.PSPath).MinimumPINLength}|Where-Object{$null -ne $_});\
         $r=(Get-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SAM' -ErrorAction SilentlyContinue).RelaxMinimumPasswordLengthLimits;\
         ConvertTo-Json -Depth 3 -Compress -InputObject ([pscustomobject]@{SeceditExit=$x;Inf=$inf;Users=$u;\
         PinMinimumLength=$p.MinimumPINLength;PinMdmMinimumLength=$m;RelaxMinimumPasswordLengthLimits=$r})",
    )
}

/// PowerShell: the Resultant Set of Policy the computer's last Group Policy refresh logged
/// (`root\rsop\computer`, Administrator or SYSTEM): the GPOs (`RSOP_GPO`, `LocalGPO` for the
/// local Group Policy), and which GPO won (precedence 1) each registry policy value
/// (`RSOP_RegistryPolicySetting`) and each account policy (`RSOP_SecuritySettingNumeric`,
/// `RSOP_SecuritySettingBoolean`). Tells Group Policy from local policy for the enforcement of
/// policy values and password rules; run once per check, and only when a policy value is found.
#[must_use]
pub fn windows_policy_origins() -> CommandSpec {
    powershell(
        "$ns='root\\rsop\\computer';\
         $g=@(Get-CimInstance -Namespace $ns -ClassName RSOP_GPO|ForEach-Object{[pscustomobject]@{Id=\"$($_.id)\";Name=\"$($_.name)\"}});\
         $r=@(Get-CimInstance -Namespace $ns -ClassName RSOP_RegistryPolicySetting|Where-Object{$_.precedence -eq 1}|\
         ForEach-Object{[pscustomobject]@{Key=\"$($_.registryKey)\";Value=\"$($_.valueName)\";Gpo=\"$($_.GPOID)\";Deleted=[bool]$_.deleted}});\
         $s=@('RSOP_SecuritySettingNumeric','RSOP_SecuritySettingBoolean'|ForEach-Object{Get-CimInstance -Namespace $ns -ClassName $_}|\
         Where-Object{$_.precedence -eq 1}|ForEach-Object{[pscustomobject]@{Key=\"$($_.KeyName)\";Gpo=\"$($_.GPOID)\"}});\
         ConvertTo-Json -Depth 3 -Compress -InputObject ([pscustomobject]@{Gpos=$g;Registry=$r;Security=$s})",
    )
}

// --- end password_rules ----------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Whose settings are judged
// ---------------------------------------------------------------------------------------------

/// Who is at the macOS console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Console {
    /// A user is logged in at the screen.
    User(ConsoleUser),
    /// The login window (or Setup Assistant) is showing: nobody is logged in; the owner shown.
    LoginWindow(String),
}

/// Parses `stat -f "%Su %u" /dev/console` (`jdoe 501`). `root`, `_mbsetupuser` and
/// `loginwindow` (or any uid below 500) mean nobody is logged in. `None` for anything else,
/// including a name with unsafe characters.
#[must_use]
pub fn parse_console_owner(text: &str) -> Option<Console> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let (name, uid) = line.rsplit_once(' ')?;
    let uid: u32 = uid.parse().ok()?;
    if matches!(name, "root" | "_mbsetupuser" | "loginwindow") || uid < 500 {
        return Some(Console::LoginWindow(name.to_owned()));
    }
    ConsoleUser::new(name, uid).map(Console::User)
}

/// Finds the console user, writing what was seen into the evidence. `Err` is the reason the
/// console could not be read.
pub fn macos_console(host: &dyn Host, ev: &mut Vec<Evidence>) -> Result<Console, String> {
    let spec = macos_console_owner();
    let out = evidence::run_ok(host, &spec, ev)?;
    match parse_console_owner(&out.stdout) {
        Some(console) => {
            let seen = match &console {
                Console::User(u) => format!("console user {} (uid {})", u.name(), u.uid()),
                Console::LoginWindow(owner) => {
                    format!("/dev/console is owned by {owner}: the login window is showing")
                }
            };
            ev.push(evidence::command(&spec, None, seen));
            Ok(console)
        }
        None => {
            let why = evidence::unrecognised(&spec, &out.stdout, ev, None);
            Err(why)
        }
    }
}

/// Reads a Managed Preferences file: `Ok(None)` when it does not exist (no profile sets that
/// domain), `Err` with the reason when it exists but cannot be read or parsed.
pub fn read_managed_preferences(
    host: &dyn Host,
    path: &str,
    ev: &mut Vec<Evidence>,
    subject: &str,
) -> Result<Option<PlistValue>, String> {
    match host.read(path) {
        Ok(bytes) => match plist::parse(&bytes) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let why = format!("{path}: {e}");
                ev.push(evidence::about(
                    evidence::file(path, None, why.clone()),
                    subject,
                ));
                Err(why)
            }
        },
        Err(ReadError::NotFound) => {
            ev.push(evidence::about(
                evidence::file(
                    path,
                    None,
                    "absent: no configuration profile sets this domain",
                ),
                subject,
            ));
            Ok(None)
        }
        Err(e) => {
            let why = evidence::read_failure(path, &e);
            ev.push(evidence::about(
                evidence::file(path, None, why.clone()),
                subject,
            ));
            Err(why)
        }
    }
}

/// A Windows user signed in interactively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsUser {
    /// The account's SID (its hive is loaded under `HKU\SID`).
    pub sid: Sid,
    /// The account name from the session's volatile environment.
    pub name: String,
}

/// The user SIDs among the subkeys printed by `reg query HKU`: valid [`Sid`]s only, so service
/// accounts, `.DEFAULT` and `_Classes` keys are left out. `None` when the output is not
/// `reg query` output.
#[must_use]
pub fn parse_loaded_hives(text: &str) -> Option<Vec<Sid>> {
    let keys = reg::parse_query(text).ok()?;
    Some(
        keys.iter()
            .filter_map(|k| k.path.strip_prefix(r"HKEY_USERS\"))
            .filter_map(Sid::new)
            .collect(),
    )
}

/// Whether a failed `reg query` said the key or value does not exist (exit code 1 with the
/// English message). Other failures, and the message in another language, are not taken as
/// "absent": absence can decide a verdict, so it must be certain.
#[must_use]
pub fn reg_says_absent(out: &posture_host::CommandOutput) -> bool {
    out.status == Some(1)
        && out
            .stderr
            .contains("unable to find the specified registry key or value")
}

/// The users signed in interactively on Windows: user hives loaded under `HKU` that have a
/// `Volatile Environment` (created for interactive logons only). `Err` when the hive list
/// could not be read.
pub fn windows_interactive_users(
    host: &dyn Host,
    ev: &mut Vec<Evidence>,
) -> Result<Vec<WindowsUser>, String> {
    let spec = windows_loaded_hives();
    let out = evidence::run_ok(host, &spec, ev)?;
    let Some(sids) = parse_loaded_hives(&out.stdout) else {
        let why = evidence::unrecognised(&spec, &out.stdout, ev, None);
        return Err(why);
    };
    ev.push(evidence::command(
        &spec,
        None,
        if sids.is_empty() {
            "no user account hive is loaded".to_owned()
        } else {
            format!(
                "user hives loaded: {}",
                sids.iter().map(Sid::as_str).collect::<Vec<_>>().join(", ")
            )
        },
    ));
    let mut users = Vec::new();
    for sid in sids {
        let spec = windows_user_session(&sid);
        let key = format!(r"HKU\{}\Volatile Environment", sid.as_str());
        match host.run(&spec) {
            Ok(out) if out.success() => {
                let name = reg::parse_query(&out.stdout)
                    .ok()
                    .and_then(|keys| {
                        keys.iter()
                            .find_map(|k| k.value("USERNAME").map(|v| v.data.trim().to_owned()))
                    })
                    .filter(|n| !n.is_empty());
                let name = name.unwrap_or_else(|| sid.as_str().to_owned());
                ev.push(evidence::registry(
                    &key,
                    "USERNAME",
                    format!("{name}: signed in interactively"),
                ));
                users.push(WindowsUser { sid, name });
            }
            Ok(out) if reg_says_absent(&out) => {
                ev.push(evidence::registry(
                    &key,
                    "USERNAME",
                    "absent: a loaded hive without an interactive session (a service or a user who signed out)",
                ));
            }
            Ok(out) => {
                let why = evidence::exit_failure(&spec, &out);
                ev.push(evidence::command(&spec, None, why.clone()));
                return Err(why);
            }
            Err(e) => {
                let why = evidence::command_failure(&spec, &e);
                ev.push(evidence::command(&spec, None, why.clone()));
                return Err(why);
            }
        }
    }
    Ok(users)
}

/// A registry query's answer: the keys printed, or "absent".
pub enum Query {
    /// The keys printed.
    Keys(Vec<RegKey>),
    /// The key or value does not exist.
    Absent,
}

/// Runs a `reg query` from the catalog. `Err` with the reason when it failed for any reason
/// other than the key or value being absent, or printed something unrecognised.
pub fn run_reg_query(
    host: &dyn Host,
    spec: &CommandSpec,
    ev: &mut Vec<Evidence>,
) -> Result<Query, String> {
    match host.run(spec) {
        Ok(out) if out.success() => match reg::parse_query(&out.stdout) {
            Ok(keys) => Ok(Query::Keys(keys)),
            Err(e) => {
                let why = format!("{}: {e}", evidence::command_name(spec));
                ev.push(evidence::command(spec, None, why.clone()));
                Err(why)
            }
        },
        Ok(out) if reg_says_absent(&out) => Ok(Query::Absent),
        Ok(out) => {
            let why = evidence::exit_failure(spec, &out);
            ev.push(evidence::command(spec, None, why.clone()));
            Err(why)
        }
        Err(e) => {
            let why = evidence::command_failure(spec, &e);
            ev.push(evidence::command(spec, None, why.clone()));
            Err(why)
        }
    }
}

/// The named values of one queried key (empty when absent), recorded as registry evidence.
pub fn reg_values(
    host: &dyn Host,
    spec: &CommandSpec,
    key: &str,
    names: &[&str],
    ev: &mut Vec<Evidence>,
    subject: Option<&str>,
) -> Result<Vec<RegValue>, String> {
    let found = match run_reg_query(host, spec, ev)? {
        Query::Absent => None,
        Query::Keys(keys) => reg::find_key(&keys, key).cloned(),
    };
    let mut values = Vec::new();
    for name in names {
        let value = found.as_ref().and_then(|k| k.value(name)).cloned();
        let shown = value
            .as_ref()
            .map_or_else(|| "absent".to_owned(), RegValue::describe);
        let e = evidence::registry(key, name, shown);
        ev.push(match subject {
            Some(s) => evidence::about(e, s),
            None => e,
        });
        values.extend(value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_catalog_program_is_an_absolute_path() {
        let user = ConsoleUser::new("jdoe", 501).unwrap();
        let sid = Sid::new("S-1-5-21-1004336348-1177238915-682003330-1001").unwrap();
        let disk = DiskDevice::new("/dev/disk4s1").unwrap();
        let all = [
            macos_console_owner(),
            macos_sw_vers(),
            macos_hardware_overview(),
            macos_computer_name(),
            macos_mdm_enrollment(),
            macos_installed_profiles(),
            macos_filevault_status(),
            macos_power_settings(),
            macos_mounts(),
            macos_volume_info(&disk),
            macos_apfs_list(),
            macos_screen_lock_status(&user),
            macos_screensaver_idle_time(&user),
            windows_reg_key(keys::SYSTEM_POLICIES),
            windows_loaded_hives(),
            windows_user_session(&sid),
            windows_user_profile(&sid),
            windows_user_desktop(&sid),
            windows_power_setting(power::SUB_SLEEP, power::STANDBYIDLE),
            windows_sleep_states(),
            windows_bitlocker_volumes(),
            windows_usb_volumes(),
            windows_inventory(),
        ];
        for spec in all {
            assert!(
                spec.program.starts_with('/') || spec.program.starts_with(r"C:\"),
                "{}",
                spec.program
            );
            assert!(spec.timeout >= CommandSpec::DEFAULT_TIMEOUT);
        }
    }

    #[test]
    fn per_user_commands_run_in_the_users_launchd_session() {
        let user = ConsoleUser::new("jdoe", 501).unwrap();
        assert_eq!(
            macos_screen_lock_status(&user).argv(),
            [
                "/bin/launchctl",
                "asuser",
                "501",
                "/usr/bin/sudo",
                "-u",
                "jdoe",
                "/usr/sbin/sysadminctl",
                "-screenLock",
                "status"
            ]
        );
    }

    #[test]
    fn user_names_and_sids_with_unsafe_characters_are_refused() {
        assert!(ConsoleUser::new("jane.doe", 502).is_some());
        assert!(ConsoleUser::new("-u", 502).is_none());
        assert!(ConsoleUser::new("a b", 502).is_none());
        assert!(ConsoleUser::new("x;rm", 502).is_none());
        assert!(ConsoleUser::new("daemon", 1).is_none());
        assert!(Sid::new("S-1-12-1-2795407433-1170520233-2891358343-1227210962").is_some());
        assert!(Sid::new("S-1-5-18").is_none());
        assert!(Sid::new("S-1-5-21-1-2-3-1001_Classes").is_none());
        assert!(Sid::new("S-1-5-21-1-2-3-1001\\..\\x").is_none());
        assert!(DiskDevice::new("/dev/disk4s1").is_some());
        assert!(DiskDevice::new("/dev/disk4s1 -x").is_none());
        assert!(DiskDevice::new("/dev/disk").is_none());
    }

    #[test]
    fn the_login_window_owns_the_console_as_root() {
        assert_eq!(
            parse_console_owner("root 0\n"),
            Some(Console::LoginWindow("root".into()))
        );
        assert_eq!(
            parse_console_owner("jdoe 501\n"),
            Some(Console::User(ConsoleUser::new("jdoe", 501).unwrap()))
        );
        assert_eq!(
            parse_console_owner("stat: /dev/console: No such file\n"),
            None
        );
    }

    #[test]
    fn loaded_hives_keep_only_user_sids() {
        let out = "\r\nHKEY_USERS\\.DEFAULT\r\nHKEY_USERS\\S-1-5-19\r\nHKEY_USERS\\S-1-5-20\r\nHKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001\r\nHKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001_Classes\r\nHKEY_USERS\\S-1-5-18\r\n";
        let sids = parse_loaded_hives(out).unwrap();
        assert_eq!(sids.len(), 1);
        assert_eq!(
            sids[0].as_str(),
            "S-1-5-21-1004336348-1177238915-682003330-1001"
        );
    }

    proptest! {
        #[test]
        fn console_and_hive_parsers_never_panic(text in "\\PC{0,200}") {
            let _ = parse_console_owner(&text);
            let _ = parse_loaded_hives(&text);
            let _ = Sid::new(&text);
            let _ = DiskDevice::new(&text);
        }
    }
}
