"""URLs as the archive knows them: canonical form, outlet name, and whether a URL may be fetched from a chat."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import quote, unquote_plus, urljoin, urlsplit, urlunsplit

from index.errors import SourceError

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are: reserved and unreserved ones, and "%" so existing escapes stay; spaces, controls
# and non-ASCII letters are percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/:@!$'()*+,;=-._~%?"

# Query parameters that only say how a reader arrived (campaigns, click ids, share widgets), never which page.
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "s_cid",
        "vero_conv",
        "vero_id",
        "wickedid",
        "li_fat_id",
        "cmpid",
        "ncid",
        "sr_share",
        "spm",
        "scid",
        "feedtype",
        "cid_source",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "matomo_", "at_medium", "at_campaign")

# Second-level labels under which registrations happen (news.bbc.co.uk -> bbc.co.uk), and hosting domains
# whose subdomains belong to different owners. Enough for outlet names; not a public suffix list.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "or", "ne", "go", "gob", "nic"})
_SHARED_HOSTS = frozenset(
    {
        "blogspot.com",
        "wordpress.com",
        "substack.com",
        "medium.com",
        "github.io",
        "tumblr.com",
        "livejournal.com",
        "typepad.com",
        "ghost.io",
    }
)


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in _TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def canonical_url(url: str, html_canonical: str | None = None) -> str:
    """The one URL an article is stored under.

    Lowercases scheme and host, drops the default port, the fragment and tracking parameters (``utm_*``,
    ``fbclid``, ``gclid``...), sorts what is left of the query, and gives an empty path as ``/``. The raw
    encoding of the remaining parameters is kept, so the result is still the address the site serves.

    Args:
        url: the URL the article was fetched or listed under.
        html_canonical: the page's ``<link rel="canonical">`` (or ``og:url``), possibly relative; preferred
            when it resolves to an http(s) URL.

    Returns:
        The canonical URL; a URL that is not http(s) (``file://``, ``urn:``) only loses its fragment.
    """
    url = url.strip()
    if html_canonical and html_canonical.strip():
        try:
            resolved = urljoin(url, html_canonical.strip())
            parts = urlsplit(resolved)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme.lower() in _DEFAULT_PORTS and parts.hostname:
            url = resolved
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url.split("#", 1)[0].strip()
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        # Without its fragment "x #top" ends in a space, and urlsplit drops leading controls (which can bare a
        # leading space): strip what a second pass would, so the result is stable.
        return urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")).strip()

    host = parts.hostname.rstrip(".").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"

    pairs = [quote(p, safe=_QUERY_SAFE) for p in parts.query.split("&") if p]
    kept = sorted(p for p in pairs if not _is_tracking(unquote_plus(p.split("=", 1)[0])))
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    return urlunsplit((scheme, netloc, path, "&".join(kept), ""))


def outlet_name(url: str) -> str:
    """The outlet a URL belongs to: its registered domain without ``www.`` ("usatoday.com", "bbc.co.uk").

    Returns the bare host for IP addresses and single-label hosts, and "" when the URL has no host.
    """
    host = _host(url)
    if not host:
        return ""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) <= 2:
        return host.removeprefix("www.")
    shared_host = ".".join(labels[-2:]) in _SHARED_HOSTS
    second_level = len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL  # bbc.co.uk, abc.net.au
    return ".".join(labels[-3:] if shared_host or second_level else labels[-2:])


def redact_url(url: str) -> str:
    """A URL safe for logs: scheme, host and path, no credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses``: every IP address a host name stands for, in the order to try them. Raises
``OSError`` (``socket.gaierror``) when the name does not resolve. The seam tests fill with a fake DNS."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver (``getaddrinfo``), without duplicates."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_ip(address: str) -> bool:
    """True for a globally routable unicast address; False for private, loopback, link-local, multicast,
    reserved and unspecified ones (an IPv4-mapped IPv6 address is judged as the IPv4 address it maps)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def check_public_url(url: str, resolver: Resolver | None = None) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address.

    Every address the host resolves to must be public: a name with one private address is refused too. This
    checks the name; ``index.public_net`` checks the address each connection is actually made to.

    Args:
        url: the URL.
        resolver: host name to addresses (the system resolver by default).

    Raises:
        SourceError: the URL is not http(s), its host does not resolve, or it points to a private, loopback,
            link-local, multicast or reserved address.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SourceError(url, f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise SourceError(url, "only http and https URLs can be fetched")
    host = parts.hostname.rstrip(".")
    try:
        addresses = (resolver or resolve_host)(host, port or _DEFAULT_PORTS[parts.scheme.lower()])
    except (UnicodeError, OSError):
        raise SourceError(url, f"cannot resolve host {host}") from None
    if not addresses:
        raise SourceError(url, f"cannot resolve host {host}")
    for address in addresses:
        if not is_public_ip(address):
            raise SourceError(url, f"refused: {host} is a private or local address ({address})")
