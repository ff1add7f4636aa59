//! What clients send besides their address: user agents of real browsers, SDKs and attack
//! tools, and the paths that vulnerability scanners probe.

/// User agents of normal users: browsers on the upload page, and the HTTP libraries and
/// mobile apps that integrations use.
pub const NORMAL_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
    "okhttp/4.12.0",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014)",
    "FleetApp/3.2.1 (iPhone; iOS 17.4.1; Scale/3.00)",
    "python-requests/2.31.0",
    "axios/1.6.8",
    "curl/8.5.0",
    "Go-http-client/2.0",
    "Java/17.0.10",
];

/// User agents of credential-stuffing tools.
pub const STUFFING_AGENTS: &[&str] = &[
    "python-requests/2.25.1",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/58.0.3029.110 Safari/537.36",
];

/// User agents of vulnerability scanners.
pub const SCANNER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)",
    "Mozilla/5.0 zgrab/0.x",
    "sqlmap/1.8#stable (https://sqlmap.org)",
];

/// The user agent of the scraper.
pub const SCRAPER_AGENT: &str = "Scrapy/2.11.1 (+https://scrapy.org)";

/// Paths that scanners probe for leaked secrets, admin panels and known exploits.
pub const SCAN_PATHS: &[&str] = &[
    "/.env",
    "/.env.production",
    "/.git/config",
    "/.git/HEAD",
    "/.svn/entries",
    "/.aws/credentials",
    "/.DS_Store",
    "/wp-admin/",
    "/wp-login.php",
    "/wp-admin/install.php",
    "/wp-content/plugins/revslider/temp/update_extract/revslider/",
    "/xmlrpc.php",
    "/phpmyadmin/",
    "/phpMyAdmin/index.php",
    "/pma/",
    "/admin",
    "/admin/login",
    "/administrator/",
    "/login.action",
    "/manager/html",
    "/server-status",
    "/server-info",
    "/actuator/health",
    "/actuator/env",
    "/api/v1/pods",
    "/config.json",
    "/config.php.bak",
    "/backup.zip",
    "/backup.sql",
    "/db.sql",
    "/dump.sql",
    "/web.config",
    "/.htaccess",
    "/.htpasswd",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/cgi-bin/test-cgi",
    "/shell.php",
    "/cmd.php",
    "/boaform/admin/formLogin",
    "/HNAP1/",
    "/owa/auth/logon.aspx",
    "/remote/login",
    "/solr/admin/info/system",
    "/console/",
    "/jenkins/login",
    "/druid/index.html",
    "/debug/default/view",
    "/telescope/requests",
    "/_profiler/phpinfo",
    "/phpinfo.php",
    "/info.php",
    "/swagger-ui.html",
    "/v2/api-docs",
    "/graphql",
    "/.vscode/sftp.json",
    "/sftp-config.json",
    "/id_rsa",
    "/etc/passwd",
    "/../../../../etc/passwd",
];
