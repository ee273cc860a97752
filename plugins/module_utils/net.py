# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Divan platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sockets, TLS contexts and error wording shared by the network probes (standard library only)."""

import os
import socket
import ssl

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit, urlunsplit  # type: ignore

DEFAULT_PORTS = {'http': 80, 'https': 443, 'ws': 80, 'wss': 443}
TLS_SCHEMES = ('https', 'wss')


def make_ssl_context(validate_certs=True, ca_path=None):
    """A client context: verify against ``ca_path`` (file or hashed directory) or the system store."""
    if not validate_certs:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_path:
        if os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)
    return ssl.create_default_context()


def open_connection(host, port, timeout, tls=False, context=None, server_hostname=None, connect_host=None):
    """TCP (and TLS) connection to ``connect_host`` or ``host``; SNI and hostname check use ``host``."""
    sock = socket.create_connection((connect_host or host, port), timeout=timeout)
    if not tls:
        return sock
    try:
        return (context or make_ssl_context()).wrap_socket(sock, server_hostname=server_hostname or host)
    except Exception:
        sock.close()
        raise


def describe_error(exc):
    """(kind, message) for a network exception; never a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return 'tls', 'TLS certificate verification failed: %s' % (
            getattr(exc, 'verify_message', None) or getattr(exc, 'reason', None) or exc)
    if isinstance(exc, ssl.CertificateError):
        return 'tls', 'TLS certificate verification failed: %s' % exc
    if isinstance(exc, ssl.SSLError):
        return 'tls', 'TLS error: %s' % (getattr(exc, 'reason', None) or exc)
    if isinstance(exc, socket.gaierror):
        return 'dns', 'DNS lookup failed: %s' % (exc.strerror or exc)
    if isinstance(exc, ConnectionRefusedError):
        return 'connect', 'connection refused'
    if isinstance(exc, socket.timeout):
        return 'connect', 'timed out'
    if isinstance(exc, ConnectionResetError):
        return 'connect', 'connection reset by peer'
    if isinstance(exc, (OSError, IOError)):
        return 'connect', 'network error: %s' % (exc.strerror or exc)
    if isinstance(exc, ValueError):  # after the ssl errors, some of which are ValueErrors too
        return 'config', str(exc)
    return 'protocol', '%s: %s' % (type(exc).__name__, exc)


def split_url(url):
    """(scheme, host, port, path_with_query) of a URL; raises ValueError when unusable."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError('unsupported URL scheme %r (use http, https, ws or wss)' % scheme)
    if not parts.hostname:
        raise ValueError('URL has no host')
    port = parts.port or DEFAULT_PORTS[scheme]
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return scheme, parts.hostname, port, path


def redact_url(url):
    """The URL without user:password@."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ''
    if ':' in netloc:
        netloc = '[%s]' % netloc
    if parts.port:
        netloc += ':%d' % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_header(host, port, scheme):
    name = '[%s]' % host if ':' in host else host
    if port == DEFAULT_PORTS.get(scheme):
        return name
    return '%s:%d' % (name, port)
