//! IMAP wire output of ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501
//! §7.4.2) from stored metadata.

use super::meta::{Address, Body, Envelope, MessageMeta, Param, Part};
use super::wire::{nstring, string};

/// Writes the parenthesised ENVELOPE of the message.
pub fn write_envelope(meta: &MessageMeta, out: &mut Vec<u8>) {
    envelope(&meta.envelope, out);
}

/// Writes the parenthesised body structure of the message: with extension
/// data for FETCH BODYSTRUCTURE (`extensible`), without for FETCH BODY.
pub fn write_bodystructure(meta: &MessageMeta, extensible: bool, out: &mut Vec<u8>) {
    part(&meta.root, extensible, out);
}

fn envelope(e: &Envelope, out: &mut Vec<u8>) {
    out.push(b'(');
    nstring(out, e.date.as_deref());
    out.push(b' ');
    nstring(out, e.subject.as_deref());
    // RFC 3501: absent or empty Sender/Reply-To default to From.
    let sender = if e.sender.is_empty() {
        &e.from
    } else {
        &e.sender
    };
    let reply_to = if e.reply_to.is_empty() {
        &e.from
    } else {
        &e.reply_to
    };
    for list in [&e.from, sender, reply_to, &e.to, &e.cc, &e.bcc] {
        out.push(b' ');
        addresses(list, out);
    }
    out.push(b' ');
    nstring(out, e.in_reply_to.as_deref());
    out.push(b' ');
    nstring(out, e.message_id.as_deref());
    out.push(b')');
}

fn addresses(list: &[Address], out: &mut Vec<u8>) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        nstring(out, a.name.as_deref());
        out.push(b' ');
        nstring(out, a.adl.as_deref());
        out.push(b' ');
        nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

fn params(list: &[Param], out: &mut Vec<u8>) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, &p.name);
        out.push(b' ');
        string(out, &p.value);
    }
    out.push(b')');
}

/// body-fld-dsp SP body-fld-lang SP body-fld-loc
fn dsp_lang_loc(p: &Part, out: &mut Vec<u8>) {
    out.push(b' ');
    match &p.disposition {
        None => out.extend_from_slice(b"NIL"),
        Some(d) => {
            out.push(b'(');
            string(out, &d.kind);
            out.push(b' ');
            params(&d.params, out);
            out.push(b')');
        }
    }
    out.push(b' ');
    if p.language.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b'(');
        for (i, l) in p.language.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            string(out, l);
        }
        out.push(b')');
    }
    out.push(b' ');
    nstring(out, p.location.as_deref());
}

fn part(p: &Part, ext: bool, out: &mut Vec<u8>) {
    out.push(b'(');
    if let Body::Multipart(children) = &p.body {
        for c in children {
            part(c, ext, out);
        }
        out.push(b' ');
        string(out, &p.media_subtype);
        if ext {
            out.push(b' ');
            params(&p.params, out);
            dsp_lang_loc(p, out);
        }
        out.push(b')');
        return;
    }
    string(out, &p.media_type);
    out.push(b' ');
    string(out, &p.media_subtype);
    out.push(b' ');
    params(&p.params, out);
    out.push(b' ');
    nstring(out, p.id.as_deref());
    out.push(b' ');
    nstring(out, p.description.as_deref());
    out.push(b' ');
    string(out, p.encoding.as_deref().unwrap_or(b"7bit"));
    out.extend_from_slice(format!(" {}", p.body_len()).as_bytes());
    match &p.body {
        Body::Message(m) => {
            out.push(b' ');
            envelope(&m.envelope, out);
            out.push(b' ');
            part(&m.root, ext, out);
            out.extend_from_slice(format!(" {}", p.lines).as_bytes());
        }
        Body::Text => out.extend_from_slice(format!(" {}", p.lines).as_bytes()),
        Body::Basic | Body::Multipart(_) => {}
    }
    if ext {
        out.push(b' ');
        nstring(out, p.md5.as_deref());
        dsp_lang_loc(p, out);
    }
    out.push(b')');
}
