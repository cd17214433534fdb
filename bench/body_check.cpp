// The held-body check on the worst bodies that fit in the default max_size (1 MiB): prints the
// fastest and the median time of refuse_write() per body (on a shared machine the fastest is
// the steadier figure). Built and run by bench/body-check; not a test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "write_body.hpp"

namespace {

using socket_proxy::WriteKind;

constexpr std::size_t body_size = 1024 * 1024;

// {"HostConfig":{"k0":"",...}}: one object of distinct keys, as large as the body allows.
std::string distinct_keys_one_object() {
    std::string body = R"({"HostConfig":{)";
    for (std::size_t i = 0; body.size() < body_size - 32; ++i) {
        body += (i ? R"(,"k)" : R"("k)") + std::to_string(i) + R"(":"")";
    }
    return body + "}}";
}

// {"o0":{<key>:<value>,...},"o1":{...}}: objects of at most 9,999 keys (within the bound), as
// many as the body holds; `key(i)` and `value` make each member.
template <typename Key>
std::string objects_of_keys(Key key, std::string_view value) {
    std::string body = "{";
    for (std::size_t object = 0;; ++object) {
        body += (object ? R"(,"o)" : R"("o)") + std::to_string(object) + R"(":{)";
        for (std::size_t i = 0; i < 9'999; ++i) {
            const std::string member = '"' + key(i) + "\":" + std::string(value);
            if (body.size() + member.size() + 4 > body_size) {
                return body + "}}";
            }
            body += (i ? "," : "") + member;
        }
        body += "}";
    }
}

std::string distinct_keys_many_objects() {
    return objects_of_keys([](std::size_t i) { return "k" + std::to_string(i); }, R"("")");
}

// Keys in which every letter is a long s (U+017F): folded, they share a 40-letter prefix, which
// the sort of each object's keys compares all the way.
std::string folding_keys() {
    std::string long_s;
    for (int i = 0; i < 40; ++i) {
        long_s += "\xC5\xBF";
    }
    return objects_of_keys([&](std::size_t i) { return long_s + std::to_string(i); }, "0");
}

// 9,999 keys that fold alike ("Privileged", "privileged") with values that fill the body:
// refused when the object ends, after the whole body was read.
std::string keys_that_fold_alike() {
    std::string body = R"({"HostConfig":{)";
    const std::string padding(body_size / 10'000 - 20, 'x');
    for (std::size_t i = 0; i < 9'999; ++i) {
        body += (i ? "," : "") + std::string(i % 2 ? R"("privileged":")" : R"("Privileged":")") +
                padding + '"';
    }
    return body + "}}";
}

// [[[[...]]]]: 1 MiB of nesting, refused at the depth bound.
std::string deepest() {
    return R"({"HostConfig":)" + std::string(body_size / 2 - 16, '[') +
           std::string(body_size / 2 - 16, ']') + "}";
}

// {"HostConfig":{"Mounts":[{...64 deep...},...]}}: nesting just within the bound, repeated.
std::string deep_within_bound() {
    std::string body = R"({"HostConfig":{"Labels":[)";
    const std::string item = std::string(60, '[') + std::string(60, ']');
    for (std::size_t i = 0; body.size() < body_size - 200; ++i) {
        body += (i ? "," : "") + item;
    }
    return body + "]}}";
}

// {"HostConfig":{"Binds":["/srv/app/a/b/c/0:/x",...]}}: every bind checked against
// bind_sources.
std::string many_binds() {
    std::string body = R"({"HostConfig":{"Binds":[)";
    for (std::size_t i = 0; body.size() < body_size - 64; ++i) {
        body +=
            (i ? R"(,"/srv/app/a/b/c/)" : R"("/srv/app/a/b/c/)") + std::to_string(i) + R"(:/x")";
    }
    return body + "]}}";
}

// {"HostConfig":{"Mounts":[{"Type":"volume","VolumeOptions":{"DriverConfig":{"Options":...}}}]}}
std::string many_mounts() {
    std::string body = R"({"HostConfig":{"Mounts":[)";
    const std::string mount =
        R"({"Type":"volume","Target":"/x","VolumeOptions":{"DriverConfig":{"Options":)"
        R"({"type":"overlay","o":"lowerdir=/srv/app/a:/srv/app/b,upperdir=/srv/app/u,workdir=/srv/app/w"}}}})";
    for (std::size_t i = 0; body.size() < body_size - mount.size() - 8; ++i) {
        body += (i ? "," : "") + mount;
    }
    return body + "]}}";
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
    socket_proxy::WriteLimits limits;
    limits.bind_sources = {"/srv/app"};
    const std::pair<const char*, std::string> bodies[] = {
        {"distinct keys, one object", distinct_keys_one_object()},
        {"distinct keys, objects of 9,999", distinct_keys_many_objects()},
        {"long-s keys, objects of 9,999", folding_keys()},
        {"keys that fold alike", keys_that_fold_alike()},
        {"nesting, 1 MiB deep", deepest()},
        {"nesting 61 deep, repeated", deep_within_bound()},
        {"binds under bind_sources", many_binds()},
        {"overlay volume mounts", many_mounts()},
    };
    std::printf("%-34s %9s %9s %9s  %s\n", "body (container create)", "bytes", "fastest", "median",
                "answer");
    for (const auto& [name, body] : bodies) {
        std::vector<double> times;
        std::string answer;
        for (int round = 0; round < rounds; ++round) {
            const auto start = std::chrono::steady_clock::now();
            const auto refusal =
                socket_proxy::refuse_write(WriteKind::container_create, "", body, limits);
            const auto stop = std::chrono::steady_clock::now();
            times.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
            answer = refusal ? refusal->substr(0, 60) : "allowed";
        }
        std::sort(times.begin(), times.end());
        std::printf("%-34s %9zu %7.1fms %7.1fms  %s\n", name, body.size(), times.front(),
                    times[times.size() / 2], answer.c_str());
    }
}
