//! Text and JSON rendering for `delete`, `shred` and `certificate show`. Human text about a
//! run goes to stderr; `certificate show` prints the certificate (its output) on stdout.

use std::io::Write;

use handover::{Certificate, CertificateView};
use handover::{PlanSummary, ShredSummary};

use super::render::human_bytes;
use handover::plural;

fn rotational(r: Option<bool>) -> &'static str {
    match r {
        Some(true) => "rotational",
        Some(false) => "non-rotational",
        None => "no block device",
    }
}

fn print_plan(p: &PlanSummary) {
    eprintln!(
        "plan: {} ({}), {}, {}, {} other",
        plural(p.files, "file", "files"),
        human_bytes(p.bytes),
        plural(p.directories, "directory", "directories"),
        plural(p.symlinks, "symlink", "symlinks"),
        p.other
    );
    if p.already_done > 0 {
        eprintln!(
            "  {} already finished by the interrupted run",
            plural(p.already_done, "entry", "entries")
        );
    }
    for r in &p.roots {
        eprintln!(
            "  {:<9} {}{}",
            r.label,
            r.path,
            if r.exists { "" } else { "  (not found)" }
        );
    }
    print_plan_objects(p);
    for f in &p.filesystems {
        if f.method == "unlink" {
            eprintln!(
                "  {} on {}: {} without data (directories, symlinks, special files): unlink",
                f.filesystem,
                f.mount_point,
                plural(f.entries, "entry", "entries")
            );
            continue;
        }
        eprintln!(
            "  {} on {} ({}, {}): {}, {}: {}",
            f.filesystem,
            f.mount_point,
            f.device,
            rotational(f.rotational),
            plural(f.entries, "entry", "entries"),
            human_bytes(f.bytes),
            f.method
        );
        if let Some(r) = &f.reason {
            eprintln!("      because {r}");
        }
    }
}

/// The bucket half of the plan: each version, delete marker and upload, and what the
/// logical delete does not claim.
fn print_plan_objects(p: &PlanSummary) {
    if p.objects.is_empty() {
        return;
    }
    let versions = p.objects.iter().filter(|o| o.kind == "object").count() as u64;
    let bytes: u64 = p.objects.iter().map(|o| o.bytes).sum();
    eprintln!(
        "  in object storage: {} ({}), {}, {}: logical_delete (the storage service decides when the bytes are gone)",
        plural(versions, "object version", "object versions"),
        human_bytes(bytes),
        plural(
            p.objects
                .iter()
                .filter(|o| o.kind == "delete_marker")
                .count() as u64,
            "delete marker",
            "delete markers"
        ),
        plural(
            p.objects
                .iter()
                .filter(|o| o.kind == "multipart_upload")
                .count() as u64,
            "incomplete upload",
            "incomplete uploads"
        ),
    );
    for o in &p.objects {
        eprintln!(
            "  {:<9} {}  {} {}{}",
            o.role,
            o.url,
            o.kind,
            o.version_id.as_deref().unwrap_or("(unversioned)"),
            if o.kind == "object" {
                format!("  {}", human_bytes(o.bytes))
            } else {
                String::new()
            }
        );
    }
}

/// Prints a delete/shred summary: the JSON document, or text on stderr.
pub fn print_summary(s: &ShredSummary, json: bool, quiet: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(s).expect("summaries serialize")
        );
        return;
    }
    if quiet && !s.dry_run {
        if let Some(id) = &s.certificate_id {
            eprintln!("certificate {id}");
        }
        return;
    }
    print_plan(&s.plan);
    for h in &s.handovers {
        eprintln!(
            "  handover {} ({}): {}; {}",
            h.handover_id,
            h.client,
            h.paths.join(", "),
            match (&h.hold, h.deleted, h.receipt_confirmed) {
                (Some(r), _, _) => format!("ON HOLD: {r}"),
                (None, true, _) => "already deleted".to_string(),
                (None, false, true) => "receipt confirmed".to_string(),
                (None, false, false) => "no receipt confirmed".to_string(),
            }
        );
    }
    if s.dry_run {
        eprintln!("dry run: nothing was changed");
        if let Some(r) = &s.refused {
            eprintln!("REFUSED: the real run would not start: {}", r.message);
        }
        return;
    }
    eprintln!(
        "deleted{}: {} overwritten and verified ({}), {} by logical delete, in {:.1} s",
        if s.resumed {
            " (finishing an interrupted job)"
        } else {
            ""
        },
        plural(s.files_verified, "file", "files"),
        human_bytes(s.bytes_overwritten),
        s.files_logical_delete,
        s.seconds
    );
    if s.bucket_entries_deleted > 0 {
        eprintln!(
            "deleted in a bucket: {} (logical delete: the storage service decides when the bytes are gone)",
            plural(
                s.bucket_entries_deleted,
                "object version, marker or upload",
                "object versions, markers and uploads"
            )
        );
    }
    if let Some(id) = &s.certificate_id {
        eprintln!("certificate {id}");
    }
    if let Some(p) = &s.certificate_path {
        eprintln!("  certificate {}", p.display());
    }
    if let Some(p) = &s.signature_path {
        eprintln!("  signature   {}", p.display());
    }
    if s.downgraded {
        eprintln!(
            "NOTE: some files got less than a verified in-place overwrite (see the reasons above and in the certificate)"
        );
    }
    for w in &s.warnings {
        eprintln!("handover: warning: {w}");
    }
}

/// Prints a certificate: the exact signed JSON with --json, else a readable form on stdout.
pub fn print_certificate(v: &CertificateView, json: bool) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = out.write_all(&v.document);
        return;
    }
    let mut w = |s: String| {
        let _ = writeln!(out, "{s}");
    };
    certificate_header(v, &mut w);
    certificate_method(&v.certificate, &mut w);
    certificate_paths(&v.certificate, &mut w);
}

/// Who deleted what for whom, when, and whether the signatures hold.
fn certificate_header(v: &CertificateView, w: &mut dyn FnMut(String)) {
    let c = &v.certificate;
    w(format!("Certificate of deletion {}", c.certificate_id));
    w(format!("  ({})", c.standard));
    w(format!(
        "Signature:   {} (key {})",
        if v.signature_valid {
            "valid"
        } else {
            "INVALID"
        },
        c.signer.key_id
    ));
    if let Some(ok) = v.delegation_valid {
        w(format!(
            "Delegation:  {} (the certificate key authorised by this home's handover.pub)",
            if ok { "valid" } else { "INVALID" }
        ));
    }
    w(format!("File:        {}", v.json_path.display()));
    if let Some(h) = &c.handover {
        w(format!(
            "Handover:    {} for {} ({}, {})",
            h.handover_id, h.client, h.name, h.created_at
        ));
    }
    match (&c.receipt, &c.without_receipt_reason) {
        (Some(r), _) => {
            w(format!(
                "Receipt:     confirmed {} ({}, proof {})",
                r.confirmed_at,
                r.method,
                r.proof
                    .as_deref()
                    .unwrap_or("not recorded (an older certificate)")
            ));
            if let Some(m) = &r.proof_meaning {
                w(format!("             {m}"));
            }
        }
        (None, Some(reason)) => w(format!(
            "Receipt:     NONE; deleted without it because: {reason}"
        )),
        _ => {}
    }
    if let Some(v) = &c.void {
        w(format!(
            "Voided:      {} (never delivered): {}",
            v.voided_at, v.reason
        ));
    }
    w(format!(
        "Operator:    {}{}",
        c.operator.name,
        c.operator
            .organization
            .as_ref()
            .map(|o| format!(", {o}"))
            .unwrap_or_default()
    ));
    w(format!("Host:        {} ({})", c.host.hostname, c.host.os));
    w(format!("Tool:        {} {}", c.tool.name, c.tool.version));
    w(format!(
        "Time:        {} to {} ({})",
        c.started_at,
        c.finished_at,
        handover::plural(u64::from(c.runs), "run", "runs")
    ));
    w(format!("Scope:       {}", c.scope));
}

/// How each filesystem's files were sanitized, how that was verified, and the totals.
fn certificate_method(c: &Certificate, w: &mut dyn FnMut(String)) {
    w("Sanitization:".into());
    for s in &c.sanitization {
        w(format!(
            "  {} on {} ({}, {}): {}, {}: {}",
            s.detail.filesystem,
            s.detail.mount_point,
            s.detail.device,
            rotational(s.detail.rotational),
            plural(s.detail.entries, "file", "files"),
            human_bytes(s.detail.bytes),
            s.nist_category
        ));
        if !s.sanitization_method.is_empty() {
            w(format!(
                "    NIST SP 800-88 Rev. 2: method {}, technique {}",
                s.sanitization_method, s.technique
            ));
        }
        w(format!("    {}", s.detail.description));
        if let Some(r) = &s.detail.reason {
            w(format!("    because {r}"));
        }
    }
    w(format!(
        "Verification: {} ({}, {})",
        c.verification.result,
        plural(c.verification.files_verified, "file", "files"),
        human_bytes(c.verification.bytes_verified)
    ));
    w(format!("  {}", c.verification.method));
    let t = &c.totals;
    w(format!(
        "Totals:      {} ({}), {}, {}, {} other, {} vanished",
        plural(t.files, "file", "files"),
        human_bytes(t.bytes),
        plural(t.directories, "directory", "directories"),
        plural(t.symlinks, "symlink", "symlinks"),
        t.other,
        t.vanished
    ));
}

/// The deleted paths (in clear or salted hashes) and the warnings.
fn certificate_paths(c: &Certificate, w: &mut dyn FnMut(String)) {
    if let Some(salt) = &c.names_salt {
        w(format!(
            "Names:       salted SHA-256 of each path (salt {salt}); the client checks them with `handover certificate check`"
        ));
    }
    w("Paths:".into());
    let name = |p: &Option<String>, h: &Option<String>| match (p, h) {
        (Some(p), _) => p.clone(),
        (None, Some(h)) => format!("sha256:{h}"),
        (None, None) => "?".into(),
    };
    for r in &c.roots {
        w(format!(
            "  [{}] {} ({}, {})",
            r.index,
            name(&r.path, &r.path_sha256),
            r.label,
            r.filesystem
        ));
    }
    for e in &c.entries {
        w(format!(
            "  [{}] {}  {} {}  {}{}",
            e.root,
            name(&e.path, &e.path_sha256),
            e.kind,
            e.bytes,
            e.status,
            e.sha256
                .as_ref()
                .map(|h| format!("  sha256 {h}"))
                .unwrap_or_default()
        ));
    }
    if !c.objects.is_empty() {
        w("Objects:".into());
    }
    for o in &c.objects {
        w(format!(
            "  s3://{}/{}  {} {} {}  {}  {} ({})",
            o.bucket,
            name(&o.key, &o.key_sha256),
            o.role,
            o.kind,
            o.version_id.as_deref().unwrap_or("(unversioned)"),
            o.bytes,
            o.status,
            o.method
        ));
    }
    if !c.warnings.is_empty() {
        w("Warnings:".into());
        for x in &c.warnings {
            w(format!("  - {x}"));
        }
    }
}

/// Prints what `handover certificate check` found.
pub fn print_coverage(r: &handover::Coverage, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(r).expect("coverage serializes")
        );
        return;
    }
    let mut out = std::io::stdout().lock();
    let mut w = |s: String| {
        let _ = writeln!(out, "{s}");
    };
    w(format!(
        "Certificate {} (names: {})",
        r.certificate_id, r.names
    ));
    w(match r.signature_valid {
        None => "Signature:   no .minisig file beside the certificate".into(),
        Some(true) => format!(
            "Signature:   valid for the key the certificate names ({}); check that key with minisign -V (README)",
            r.signer_key_id
        ),
        Some(false) => format!(
            "Signature:   INVALID for the key the certificate names ({})",
            r.signer_key_id
        ),
    });
    match r.provider_authorised {
        Some(true) => w(format!(
            "Provider:    key {} is the provider's key you gave, or authorised by it",
            r.signer_key_id
        )),
        Some(false) => w(format!(
            "Provider:    key {} is NOT the provider's key you gave, nor authorised by it",
            r.signer_key_id
        )),
        None => {}
    }
    w(format!(
        "Covered:     {} of the bag",
        plural(r.covered.len() as u64, "file", "files")
    ));
    if !r.not_covered.is_empty() {
        w(format!(
            "NOT covered: {}:",
            plural(r.not_covered.len() as u64, "file", "files")
        ));
        for f in &r.not_covered {
            w(format!(
                "  data/{}: {}",
                f.path,
                f.reason.as_deref().unwrap_or_default()
            ));
        }
    }
    if r.certificate_entries_not_in_bag > 0 {
        w(format!(
            "The certificate also lists {} of the data that are not in this bag.",
            plural(r.certificate_entries_not_in_bag, "entry", "entries")
        ));
    }
    if let Some(why) = &r.refused {
        w(format!(
            "This certificate cannot vouch for this bag: {why}."
        ));
    }
    w(if r.all_covered {
        "Every file of the bag is covered by the certificate.".into()
    } else {
        "Some files of the bag are NOT covered by the certificate.".into()
    });
}
