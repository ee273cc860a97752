# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenPGP public key files for apt's ``signed-by``, for divan.platform.apt_signing_key.

Pure Python, no gpg: an ASCII-armored key (RFC 4880 section 6, with its
CRC-24 checked when present) is de-armored, its packets are read (old and
new packet formats), and the fingerprint of each primary key and subkey is
computed: v4 is SHA-1 over ``0x99``, a 2-byte length and the public-key packet
body; v5 (``0x9A``) and v6 (``0x9B``) are SHA-256 with a 4-byte length.

:func:`decide` is what the module does: keep the existing file when it holds
exactly the pinned key, otherwise ask for a download, and check what was
downloaded against the pin before anything is written.
"""

import base64
import binascii
import hashlib
import re

ARMOR_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----'
ARMOR_END = '-----END PGP PUBLIC KEY BLOCK-----'
ARMOR_ANY_BEGIN_RE = re.compile(r'^-----BEGIN PGP ([A-Z ,/0-9]+)-----\s*$', re.M)

TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14

MAX_KEY_BYTES = 1024 * 1024  # a key file is a few KB; anything bigger is not one

CRC24_INIT = 0xB704CE
CRC24_POLY = 0x1864CFB


class KeyFormatError(ValueError):
    """The content is not an OpenPGP public key (or key ring)."""


class FingerprintMismatch(ValueError):
    """The content is a key, but not the pinned one (or not only the pinned one)."""

    def __init__(self, msg, expected, got):
        super(FingerprintMismatch, self).__init__(msg)
        self.expected = expected
        self.got = got


def crc24(data):
    crc = CRC24_INIT
    for byte in bytearray(data):
        crc ^= byte << 16
        for _unused in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= CRC24_POLY
    return crc & 0xFFFFFF


def normalize_fingerprint(value):
    """Upper-case hex without spaces or colons; ValueError unless 40 (v4) or 64 (v5/v6) hex digits."""
    text = re.sub(r'[\s:]', '', str(value or '')).upper()
    if text.startswith('0X'):
        text = text[2:]
    if not re.match(r'^[0-9A-F]+$', text) or len(text) not in (40, 64):
        raise ValueError('fingerprint %r is not a full key fingerprint: 40 hexadecimal digits (64 for a v5/v6 key), '
                         'spaces allowed, as `gpg --show-keys --with-fingerprint KEYFILE` prints it '
                         '(a short or long key ID is not enough)' % (value,))
    return text


def format_fingerprint(fpr):
    """``9DC8 5822 9FC7 DD38 ...`` as gpg prints it."""
    return ' '.join(fpr[i:i + 4] for i in range(0, len(fpr), 4))


def _to_bytes(content):
    if isinstance(content, bytes):
        return content
    if isinstance(content, bytearray):
        return bytes(content)
    return content.encode('utf-8')


def is_armored(content):
    return ARMOR_BEGIN.encode('ascii') in _to_bytes(content)[:MAX_KEY_BYTES]


def dearmor(content):
    """The binary packets of an ASCII-armored public key block (the first one); bytes are returned as they are."""
    data = _to_bytes(content)
    if not data.strip():
        raise KeyFormatError('empty content, not an OpenPGP key')
    if not is_armored(data):
        if bytearray(data[:1])[0] & 0x80:
            return data
        text = data[:4096].decode('utf-8', 'replace')
        other = ARMOR_ANY_BEGIN_RE.search(text)
        if other:
            raise KeyFormatError('an armored "PGP %s" block, not a "PGP PUBLIC KEY BLOCK"' % other.group(1))
        if text.lstrip().lower().startswith(('<!doctype', '<html')):
            raise KeyFormatError('an HTML page, not an OpenPGP key (a wrong URL, or a login or error page?)')
        raise KeyFormatError('neither an ASCII-armored public key block nor binary OpenPGP packets')
    text = data.decode('ascii', 'replace').replace('\r\n', '\n').replace('\r', '\n')
    lines = text.split('\n')
    try:
        start = [line.strip() for line in lines].index(ARMOR_BEGIN)
    except ValueError:
        raise KeyFormatError('no "%s" line' % ARMOR_BEGIN)
    body = lines[start + 1:]
    # armor headers (Version:, Comment:, ...; base64 has no colon), then a blank line
    idx = 0
    while idx < len(body) and ':' in body[idx]:
        idx += 1
    body = body[idx:]
    b64, checksum, ended = [], None, False
    for line in body:
        line = line.strip()
        if line == ARMOR_END:
            ended = True
            break
        if not line:
            continue
        if line.startswith('=') and len(line) == 5:
            checksum = line[1:]
            continue
        b64.append(line)
    if not ended:
        raise KeyFormatError('the armored block has no "%s" line (truncated download?)' % ARMOR_END)
    try:
        packets = base64.b64decode(''.join(b64).encode('ascii'), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError('the armored block is not valid base64 (%s)' % exc)
    if checksum is not None:
        try:
            want = bytearray(base64.b64decode(checksum.encode('ascii'), validate=True))
        except (binascii.Error, ValueError):
            raise KeyFormatError('the armor checksum line "=%s" is not valid base64' % checksum)
        if len(want) != 3 or (want[0] << 16 | want[1] << 8 | want[2]) != crc24(packets):
            raise KeyFormatError('the armor checksum (CRC-24) does not match: the key block is corrupted')
    if not packets:
        raise KeyFormatError('the armored block is empty')
    return packets


def enarmor(packets):
    """ASCII armor of binary packets (RFC 4880 6.2, with its CRC-24), as text."""
    encoded = base64.b64encode(packets).decode('ascii')
    crc = crc24(packets)
    checksum = base64.b64encode(bytes(bytearray([(crc >> 16) & 0xFF, (crc >> 8) & 0xFF, crc & 0xFF]))).decode('ascii')
    lines = [ARMOR_BEGIN, '']
    lines.extend(encoded[i:i + 64] for i in range(0, len(encoded), 64))
    lines.extend(['=' + checksum, ARMOR_END, ''])
    return '\n'.join(lines)


def iter_packets(data):
    """(tag, body) of each OpenPGP packet of binary data."""
    data = bytearray(data)
    pos, size = 0, len(data)
    while pos < size:
        header = data[pos]
        if not header & 0x80:
            raise KeyFormatError('byte %d is not the start of an OpenPGP packet (0x%02x)' % (pos, header))
        pos += 1
        if header & 0x40:  # new format
            tag = header & 0x3F
            body = bytearray()
            while True:
                if pos >= size:
                    raise KeyFormatError('truncated packet length at byte %d' % pos)
                first = data[pos]
                if first < 192:
                    length, pos, partial = first, pos + 1, False
                elif first < 224:
                    if pos + 1 >= size:
                        raise KeyFormatError('truncated packet length at byte %d' % pos)
                    length, pos, partial = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2, False
                elif first == 255:
                    if pos + 4 >= size:
                        raise KeyFormatError('truncated packet length at byte %d' % pos)
                    length = int(binascii.hexlify(bytes(data[pos + 1:pos + 5])), 16)
                    pos, partial = pos + 5, False
                else:
                    length, pos, partial = 1 << (first & 0x1F), pos + 1, True
                if pos + length > size:
                    raise KeyFormatError('truncated packet (tag %d) at byte %d' % (tag, pos))
                body += data[pos:pos + length]
                pos += length
                if not partial:
                    break
        else:  # old format
            tag = (header >> 2) & 0x0F
            length_type = header & 0x03
            if length_type == 3:
                length = size - pos
            else:
                nbytes = (1, 2, 4)[length_type]
                if pos + nbytes > size:
                    raise KeyFormatError('truncated packet length at byte %d' % pos)
                length = int(binascii.hexlify(bytes(data[pos:pos + nbytes])), 16)
                pos += nbytes
            if pos + length > size:
                raise KeyFormatError('truncated packet (tag %d) at byte %d' % (tag, pos))
            body = data[pos:pos + length]
            pos += length
        yield tag, bytes(body)


def key_fingerprint(body):
    """(version, fingerprint) of a public-key or public-subkey packet body."""
    if not body:
        raise KeyFormatError('an empty key packet')
    version = bytearray(body[:1])[0]
    if version == 4:
        if len(body) > 0xFFFF:
            raise KeyFormatError('a v4 key packet longer than 65535 bytes')
        digest = hashlib.sha1(b'\x99' + bytes(bytearray([len(body) >> 8, len(body) & 0xFF])) + body)
    elif version in (5, 6):
        prefix = b'\x9a' if version == 5 else b'\x9b'
        length = len(body)
        digest = hashlib.sha256(prefix + bytes(bytearray([(length >> 24) & 0xFF, (length >> 16) & 0xFF,
                                                          (length >> 8) & 0xFF, length & 0xFF])) + body)
    else:
        raise KeyFormatError('a version %d key packet: only v4 (and v5/v6) keys are supported; v2/v3 keys are '
                             'obsolete and apt does not accept them either' % version)
    return version, digest.hexdigest().upper()


def parse_keys(content):
    """The primary keys of a public key file (armored or binary), in order.

    Each is ``{'fingerprint', 'version', 'subkeys': [fingerprint, ...], 'user_ids': [str, ...]}``.
    Raises KeyFormatError for anything that is not a public key (secret keys included).
    """
    data = _to_bytes(content)
    if len(data) > MAX_KEY_BYTES:
        raise KeyFormatError('%d bytes, more than a key file (at most %d)' % (len(data), MAX_KEY_BYTES))
    keys = []
    for tag, body in iter_packets(dearmor(data)):
        if tag in (TAG_SECRET_KEY, TAG_SECRET_SUBKEY):
            raise KeyFormatError('a secret key: apt needs the public key only (gpg --export, not --export-secret-keys)')
        if tag == TAG_PUBLIC_KEY:
            version, fpr = key_fingerprint(body)
            keys.append({'fingerprint': fpr, 'version': version, 'subkeys': [], 'user_ids': []})
        elif tag == TAG_PUBLIC_SUBKEY:
            if not keys:
                raise KeyFormatError('a subkey packet before any primary key')
            keys[-1]['subkeys'].append(key_fingerprint(body)[1])
        elif tag == TAG_USER_ID and keys:
            keys[-1]['user_ids'].append(body.decode('utf-8', 'replace'))
        elif not keys and tag != 0:
            raise KeyFormatError('OpenPGP data that does not start with a public key (first packet tag %d)' % tag)
    if not keys:
        raise KeyFormatError('no public key packet')
    return keys


def primary_fingerprints(content):
    return [key['fingerprint'] for key in parse_keys(content)]


def check_key(content, wanted):
    """Raise FingerprintMismatch unless ``content`` holds the key ``wanted`` (normalized) and no other one."""
    keys = parse_keys(content)
    found = [key['fingerprint'] for key in keys]
    if found == [wanted]:
        return keys[0]
    subkey_of = [key['fingerprint'] for key in keys if wanted in key['subkeys']]
    if subkey_of:
        msg = ('%s is the fingerprint of a subkey of %s: pin the primary key\'s fingerprint'
               % (format_fingerprint(wanted), format_fingerprint(subkey_of[0])))
    elif wanted in found:
        msg = ('the key file holds %d keys (%s), not only the pinned %s: apt would also trust the others'
               % (len(found), ', '.join(format_fingerprint(f) for f in found), format_fingerprint(wanted)))
    else:
        msg = ('fingerprint mismatch: expected %s, got %s'
               % (format_fingerprint(wanted), ', '.join(format_fingerprint(f) for f in found)))
    raise FingerprintMismatch(msg, wanted, found)


def render(content, dest):
    """The bytes to write: armored for a ``.asc`` dest, binary for ``.gpg``, else as fetched."""
    data = _to_bytes(content)
    name = str(dest).lower()
    armored = is_armored(data)
    if name.endswith('.asc') and not armored:
        return enarmor(data).encode('ascii')
    if name.endswith('.gpg') and armored:
        return dearmor(data)
    return data


def decide(existing, wanted, fetched=None, dest=''):
    """What to do with the key file.

    ``existing``: the current content of dest, or None when it does not exist.
    ``wanted``: the pinned fingerprint (any case, spaces allowed).
    ``fetched``: the downloaded content, or None when nothing was downloaded yet.

    Returns a dict: ``action`` is ``keep`` (dest already holds the pinned key; nothing to download),
    ``fetch`` (download, then call again with ``fetched``) or ``write`` (``content`` is what to write),
    with ``fingerprint`` (the key found, or None) and ``reason`` (what dest holds that needs replacing:
    ``missing``, ``another key (...)``, ``not a key file (...)``).
    Raises ValueError for a bad ``wanted``, KeyFormatError and FingerprintMismatch for bad ``fetched``.
    """
    wanted = normalize_fingerprint(wanted)
    reason = 'missing'
    if existing is not None:
        try:
            key = check_key(existing, wanted)
            return {'action': 'keep', 'fingerprint': key['fingerprint'], 'reason': None, 'content': None}
        except FingerprintMismatch as exc:
            reason = 'another key (%s)' % exc
        except KeyFormatError as exc:
            reason = 'not a key file (%s)' % exc
    if fetched is None:
        return {'action': 'fetch', 'fingerprint': None, 'reason': reason, 'content': None}
    key = check_key(fetched, wanted)
    return {'action': 'write', 'fingerprint': key['fingerprint'], 'reason': reason,
            'content': render(fetched, dest)}
