#pragma once
// One request of the revocation feed: GET {server_url}/v1/revocations over
// mutual TLS (the client's own certificate of this CA authenticates it).
//
// A follower loops:
//   auto page = poll_revocations(url, tls, since, std::chrono::seconds(30));
//   act on page->revocations; if (page->reset) resynchronise (fetch the CRL);
//   since = page->next; ask again at once (a full page or a long poll that
//   ended), or after a back-off on an error (kRateLimited: Retry-After).

#include <chrono>
#include <optional>
#include <string>

#include "base/error.h"
#include "feed/page.h"
#include "net/client.h"

namespace herald::feed {

// Margin on top of `wait` for the connection, the handshake and the answer.
inline constexpr std::chrono::seconds kPollMargin{15};

// `server_url`: https://HOST:PORT (a trailing "/" is allowed). `since`:
// nullopt starts from now (an empty page whose next is the newest id).
// `wait`: how long the server may hold the request when nothing is newer
// (0 to 60 s; the server caps it). Times out after wait + kPollMargin.
// Errors: connection/TLS (kIo), 401 (kUnauthenticated), 429 (kRateLimited,
// context retry_after), other statuses with the problem's detail, and a
// page that does not parse (kMalformedInput). `cancel` aborts the poll from
// another thread (a follower that is stopping).
[[nodiscard]] Result<Page> poll_revocations(const std::string& server_url,
                                            const net::ClientTls& tls, std::optional<int64_t> since,
                                            std::chrono::seconds wait,
                                            net::CancelToken* cancel = nullptr);

}  // namespace herald::feed
