//! Test support for the minting tests: a loopback server, a fake store, request checks,
//! and a throwaway 2048-bit RSA key pair (generated once with
//! `openssl genrsa -traditional 2048`; it signs nothing outside these tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

pub(super) type Reply = (StatusCode, String);

/// Serves the router `app(base_url)` builds on 127.0.0.1 and returns the base URL.
pub(super) async fn serve(app: impl FnOnce(Url) -> Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let router = app(base.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A store holding `pairs`.
pub(super) fn store(
    pairs: &[(&str, &str)],
) -> impl Fn(&str) -> Option<Zeroizing<String>> + Send + Sync + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).map(|v| Zeroizing::new(v.clone()))
}

/// A 400 naming the failed check, which the test then sees in `MintError::Http`.
pub(super) fn check(ok: bool, what: &str) -> Result<(), Reply> {
    if ok {
        Ok(())
    } else {
        Err((StatusCode::BAD_REQUEST, format!("check failed: {what}")))
    }
}

pub(super) fn ok_json(value: Value) -> Result<Reply, Reply> {
    Ok((StatusCode::OK, value.to_string()))
}

pub(super) fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub(super) fn verify(
    jwt: &str,
    validation: &Validation,
) -> Result<jsonwebtoken::TokenData<Value>, Reply> {
    let key = DecodingKey::from_rsa_pem(PUBLIC_PEM.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(jwt, &key, validation)
        .map_err(|e| (StatusCode::UNAUTHORIZED, format!("bad JWT: {e}")))
}

/// Decodes one `application/x-www-form-urlencoded` component.
pub(super) fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The private key as GitHub hands it out (PKCS#1).
pub(super) const PKCS1_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEpAIBAAKCAQEA0igogaTPhgpGkS0H7r4Nusfb92EZk6i9Yc6kUbRwtVznhg0V\n\
kROotR0bPSdJAZC+2s7isWPlA0fnBjv4RaQ8Agg2VAaHlb4w+cEnp0SqVC3FCrpM\n\
xL+PNxwSayu8JeN0CDPag2Rj7b2CB3w4tYW/JxHkO7GpPus0hes0wQYOrauzuXaK\n\
74t/k7GIJoUgcqHuKatCaKlmFG6qwoQp6/jRrPRMgHd+zLkmMtdhgFyx/RQjDvoF\n\
hh4qITqUvoajg2MhGJpDJjvqIThmV7oJeeSOQZLYGmg/7gSROePJtRRUU7Q8WO4M\n\
zdHOgDCOu+kt5f4hzzL14BWjLAabaNmPkSd/rQIDAQABAoIBAGbOdmJVeZ+cz0Cd\n\
ws+r8ZN5ycWOnrB5T4vVRtUhbDGMrUYKiI5cC5/uCTE1UqWNZZAsvQECWTntprqK\n\
A74txZ1I3yrjttguHk9PilJtaNWdPlMtJ/jnrOvMs8XxsyzlxBFvLGoyZiAbIM0A\n\
m81RDF3Uhs4c7yp0bVFF6pyyleOmxCqV8NhLfacvdHrnEEBP3z2KHVskts4gn/9y\n\
TTUqnHEDJw4NHqry8DEcfQkikx7y8Ox/KVa3RMO1VMq94XFpiAbyWEO5x0cvp6XZ\n\
6O/YCl2/LhIp8dz5q+fir5x/crQZ6k6non+gORbdNA6XdC+fiqh9b8fCNbCgBPxx\n\
hxH9tJECgYEA8vSjUGSGf3jbjq8QG6RYpSP6AvauwmbwUx1z6MBdG9CUsEqv96lz\n\
HBblj/GYHtRZjPhJWWJchhj53kQNp+RF/qt0YOisXuA3Agw12btc2tBmoIsawpM6\n\
+1MdnxS6e7JzMAncXX9ayIE41LI6d0ZgpmqX4C0mQL+YXFesEp+ylG8CgYEA3XC1\n\
wKRIDyCTgoC5L4vyF6GtU/kBXPi3j+QH8eY0Lf2YLPP7O7HXZ+KK9EuqMLUfAcuQ\n\
+SHd+cyzHkh/NbG+OpnouYhAmJC0XI2vD0+gTyLHguVROfg5VkOqzD/2lS0ND/IL\n\
QXA8YCuR2KuG5ND2/e6WGZYLm6M56mPh6/BdU6MCgYEAmolNUBeBDZf8X9eusUZq\n\
NDCcGEJ8ip8bgmKblZK2JrkXusLnBus7ksRlpJeRoRqFE4via/6Kx6kfVmeHICGs\n\
+/5m+jVFXtvTYXQO1L2+pFgmzztr/BPWUoJdtxBiRcgOSKIdD0OwpRS8512unquf\n\
Uns+u5M8X7b+3M3PX9FAr/UCgYBhFNTaDCv7VdDV2hFWIwiUC7GtqvFKDVCMqPBC\n\
wSYHM7LPond2iFVjmhJJYBLRH9bkNpbsYkirB29Py4DZzX8Uuf0pue539JjeKs+g\n\
6svhZeIKJPcjbwvUIf5zZWd5pzKe1wLQQaB2mSNr1mdhUau3UC5GMV4NcdYmSHv3\n\
sH15+QKBgQDCNjGR8limAnATXO+YUKmeht4MfNlXboO9e3ER9mVVJGZ/JjLWOel8\n\
+A1ooUirR7iprJJjLoUHgD8cPIh3f+MCMdaEK6gEoKaM+ADMN1ZFl7yOlqzP0uOg\n\
5OrZfNr9jCzjURGoUEFsvX00fat3XlIHcOgvTLIJo7NWyL1B5XdvuA==\n\
-----END RSA PRIVATE KEY-----\n\
";

/// The same key as in a Google service-account file (PKCS#8).
pub(super) const PKCS8_PEM: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDSKCiBpM+GCkaR\n\
LQfuvg26x9v3YRmTqL1hzqRRtHC1XOeGDRWRE6i1HRs9J0kBkL7azuKxY+UDR+cG\n\
O/hFpDwCCDZUBoeVvjD5wSenRKpULcUKukzEv483HBJrK7wl43QIM9qDZGPtvYIH\n\
fDi1hb8nEeQ7sak+6zSF6zTBBg6tq7O5dorvi3+TsYgmhSByoe4pq0JoqWYUbqrC\n\
hCnr+NGs9EyAd37MuSYy12GAXLH9FCMO+gWGHiohOpS+hqODYyEYmkMmO+ohOGZX\n\
ugl55I5BktgaaD/uBJE548m1FFRTtDxY7gzN0c6AMI676S3l/iHPMvXgFaMsBpto\n\
2Y+RJ3+tAgMBAAECggEAZs52YlV5n5zPQJ3Cz6vxk3nJxY6esHlPi9VG1SFsMYyt\n\
RgqIjlwLn+4JMTVSpY1lkCy9AQJZOe2muooDvi3FnUjfKuO22C4eT0+KUm1o1Z0+\n\
Uy0n+Oes68yzxfGzLOXEEW8sajJmIBsgzQCbzVEMXdSGzhzvKnRtUUXqnLKV46bE\n\
KpXw2Et9py90eucQQE/fPYodWyS2ziCf/3JNNSqccQMnDg0eqvLwMRx9CSKTHvLw\n\
7H8pVrdEw7VUyr3hcWmIBvJYQ7nHRy+npdno79gKXb8uEinx3Pmr5+KvnH9ytBnq\n\
Tqeif6A5Ft00Dpd0L5+KqH1vx8I1sKAE/HGHEf20kQKBgQDy9KNQZIZ/eNuOrxAb\n\
pFilI/oC9q7CZvBTHXPowF0b0JSwSq/3qXMcFuWP8Zge1FmM+ElZYlyGGPneRA2n\n\
5EX+q3Rg6Kxe4DcCDDXZu1za0GagixrCkzr7Ux2fFLp7snMwCdxdf1rIgTjUsjp3\n\
RmCmapfgLSZAv5hcV6wSn7KUbwKBgQDdcLXApEgPIJOCgLkvi/IXoa1T+QFc+LeP\n\
5Afx5jQt/Zgs8/s7sddn4or0S6owtR8By5D5Id35zLMeSH81sb46mei5iECYkLRc\n\
ja8PT6BPIseC5VE5+DlWQ6rMP/aVLQ0P8gtBcDxgK5HYq4bk0Pb97pYZlguboznq\n\
Y+Hr8F1TowKBgQCaiU1QF4ENl/xf166xRmo0MJwYQnyKnxuCYpuVkrYmuRe6wucG\n\
6zuSxGWkl5GhGoUTi+Jr/orHqR9WZ4cgIaz7/mb6NUVe29NhdA7Uvb6kWCbPO2v8\n\
E9ZSgl23EGJFyA5Ioh0PQ7ClFLznXa6eq59Sez67kzxftv7czc9f0UCv9QKBgGEU\n\
1NoMK/tV0NXaEVYjCJQLsa2q8UoNUIyo8ELBJgczss+id3aIVWOaEklgEtEf1uQ2\n\
luxiSKsHb0/LgNnNfxS5/Sm57nf0mN4qz6Dqy+Fl4gok9yNvC9Qh/nNlZ3mnMp7X\n\
AtBBoHaZI2vWZ2FRq7dQLkYxXg1x1iZIe/ewfXn5AoGBAMI2MZHyWKYCcBNc75hQ\n\
qZ6G3gx82Vdug717cRH2ZVUkZn8mMtY56Xz4DWihSKtHuKmskmMuhQeAPxw8iHd/\n\
4wIx1oQrqASgpoz4AMw3VkWXvI6WrM/S46Dk6tl82v2MLONREahQQWy9fTR9q3de\n\
Ugdw6C9Msgmjs1bIvUHld2+4\n\
-----END PRIVATE KEY-----\n\
";

/// Its public half, for the loopback servers to verify with.
pub(super) const PUBLIC_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0igogaTPhgpGkS0H7r4N\n\
usfb92EZk6i9Yc6kUbRwtVznhg0VkROotR0bPSdJAZC+2s7isWPlA0fnBjv4RaQ8\n\
Agg2VAaHlb4w+cEnp0SqVC3FCrpMxL+PNxwSayu8JeN0CDPag2Rj7b2CB3w4tYW/\n\
JxHkO7GpPus0hes0wQYOrauzuXaK74t/k7GIJoUgcqHuKatCaKlmFG6qwoQp6/jR\n\
rPRMgHd+zLkmMtdhgFyx/RQjDvoFhh4qITqUvoajg2MhGJpDJjvqIThmV7oJeeSO\n\
QZLYGmg/7gSROePJtRRUU7Q8WO4MzdHOgDCOu+kt5f4hzzL14BWjLAabaNmPkSd/\n\
rQIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
