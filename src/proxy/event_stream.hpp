// /events under a label-scoped rule: the daemon's stream is cut into lines, one event each, and
// only the events of containers the rule shows are passed on, each as soon as it arrives.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "body_relay.hpp"
#include "connection.hpp"
#include "daemon_pool.hpp"
#include "label_scope.hpp"

namespace socket_proxy {

// One line of /events is one event, a few hundred bytes; a line longer than this under a
// label-scoped rule is not an event the proxy can judge, and ends the stream.
inline constexpr std::size_t max_event_bytes = 1024 * 1024;

// Cuts a stream's body into event lines and keeps the visible ones. Pure: no I/O.
class EventFilter {
  public:
    explicit EventFilter(const std::vector<LabelSelector>& labels) : labels_(labels) {}

    // Takes the next piece of the body (`last`: the body ends with it) and appends to `visible`
    // each visible event it completes, with its '\n'. False when an unfinished line has grown
    // past max_event_bytes: the stream cannot be judged any further.
    bool take(std::string_view piece, bool last, std::string& visible);

    [[nodiscard]] std::size_t hidden() const { return hidden_; }
    // Dropped: an event the proxy cannot read is not shown.
    [[nodiscard]] std::size_t unreadable() const { return unreadable_; }

  private:
    const std::vector<LabelSelector>& labels_;
    std::string pending_;  // the start of a line whose end has not arrived
    std::size_t hidden_ = 0;
    std::size_t unreadable_ = 0;
};

// How a filtered event stream went, for its log line.
struct EventRelay {
    std::uint64_t bytes = 0;  // visible events passed on
    std::size_t hidden = 0;
    std::size_t unreadable = 0;
    boost::system::error_code client_error;
    std::string problem;  // why the proxy ended the stream itself
};

// Passes the visible events of the daemon's answer body to the client until the body ends, or
// either side fails; `chunked` sends each write as one chunk. `relay` is kept up to date
// throughout, so that it tells how far the stream went when this is cancelled.
boost::asio::awaitable<void> relay_visible_events(DaemonStream& daemon, DaemonBuffer& daemon_buffer,
                                                  DaemonAnswerParser& parser, ClientStream& client,
                                                  const std::vector<LabelSelector>& labels,
                                                  bool chunked, std::span<char> scratch,
                                                  EventRelay& relay);

}  // namespace socket_proxy
