// Read guards: which ps arguments and log queries the proxy lets through, under every policy.
#include "read_guard.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "policy.hpp"

namespace socket_proxy {
namespace {

// procps prints the environment for BSD `e`, and rereads a failing argument list with every
// option as a BSD one, so "-ex" (x is no UNIX option) is BSD "ex" (measured, procps-ng 4.0.2).
TEST(ReadGuardTest, PsArgumentsThatCouldPrintAnEnvironment) {
    for (const std::string_view args : {
             "ewwo pid,args",         // the example
             "-efww e",               // ditto
             "e",                     // BSD e alone
             "aux e",                 //
             "auxe",                  // clustered
             "axe",                   //
             "-ex",                   // not UNIX: reread as BSD "ex"
             "-uxe",                  //
             "-eHT",                  // -H with -T fails, then BSD "eHT"
             "-ef -o pid,args",       // conflicting formats, then BSD "ef"
             "-ef -x",                //
             "-ue",                   // UNIX -u "e", or BSD "ue" when no user e exists
             "-u root e",             //
             "-o pid,environ",        // the environment column
             "o environ",             //
             "-o pid,env",            //
             "--format environ",      //
             "--format=pid,environ",  //
             "-O environ",            //
             "k environ",             // unknown sort key
             "-o pid,args=X",         // a renamed header: not in the list
             "-ef  -f",               // an empty argument
             " -ef",                  //
             "-ef ",                  //
             "-",                     //
             "-o",                    // no argument
             "--format",              //
             "-ef\te",                // a tab is not a separator for the daemon: one odd argument
             "-ef;e",                 //
             "--environment",         // not in the list
             "-V",                    // not in the list
             "-p 1e",                 // a letter e inside a list
             "U elsa",                //
             "--cols x",              // not a number
         }) {
        EXPECT_TRUE(check_ps_args(args).has_value()) << '"' << args << '"';
    }
}

TEST(ReadGuardTest, PsArgumentsThatPrintNoEnvironment) {
    for (const std::string_view args : {
             "",                               // the daemon's own -ef
             "-ef",                            // docker top c -ef
             "-efww",                          //
             "-eF",                            //
             "-A",                             //
             "-ef --forest",                   //
             "-e -f",                          //
             "-eLf",                           //
             "aux",                            // Portainer
             "auxww",                          //
             "ax",                             //
             "-o pid,args",                    //
             "-opid,comm",                     //
             "-o pid,user,etime,args",         // 'e' inside column names is no option
             "-O user",                        //
             "o pid,args",                     //
             "wwopid,args",                    // o takes the rest of the word
             "-A -o pid,ppid,%cpu,%mem,args",  //
             "--format pid,args --sort -pid",  //
             "--sort=+pid",                    //
             "-o pid,args --cols 200",         //
             "-p 1,2,3",                       //
             "-u root",                        //
             "x -T",                           //
             "f",                              //
             "12,13",                          //
             "-H -o pid,args",                 //
         }) {
        EXPECT_EQ(check_ps_args(args), std::nullopt) << '"' << args << '"';
    }
}

TEST(ReadGuardTest, DetailsAsTheDaemonReadsThem) {
    for (const std::string_view value : {"1", "true", "TRUE", "yes", "t", "on", "2", " 1 ", "x",
                                         "\xc2\xa0"
                                         "false"}) {
        EXPECT_TRUE(daemon_reads_true(value)) << value;
    }
    for (const std::string_view value :
         {"", "0", "no", "false", "FALSE", "None", " 0 ", "\tno\n", "   "}) {
        EXPECT_FALSE(daemon_reads_true(value)) << value;
    }
}

struct GuardRow {
    std::string_view method;
    std::string_view route;
    std::string_view query;
    bool refused;
};

TEST(ReadGuardTest, RoutesAndQueries) {
    const GuardRow rows[] = {
        {"GET", "/containers/c1/top", "ps_args=ewwo%20pid,args", true},
        {"GET", "/containers/c1/top", "ps_args=ewwo+pid,args", true},
        {"GET", "/containers/c1/top", "ps_args=%65", true},
        {"GET", "/containers/my/app/top", "ps_args=e", true},
        {"GET", "/containers/c1/top", "ps_args=-ef&ps_args=e", true},  // podman reads both
        {"GET", "/containers/c1/top", "ps_args=-ef&ps_args=-T&ps_args=-H", true},  // one argv
        {"GET", "/containers/c1/top", "PS_ARGS=e", true},       // podman: any case
        {"GET", "/containers/c1/top", "p%C5%BF_args=e", true},  // U+017F folds to s
        {"GET", "/containers/c1/top", "ps_args=e;x=1", true},   // undecidable
        {"GET", "/containers/c1/top", "ps_args=%zz", true},
        {"HEAD", "/containers/c1/top", "ps_args=e", true},
        {"GET", "/containers/c1/top", "", false},
        {"GET", "/containers/c1/top", "ps_args=", false},
        {"GET", "/containers/c1/top", "ps_args=-ef", false},
        {"GET", "/containers/c1/top", "ps_args=aux", false},
        {"GET", "/containers/c1/top", "ps_args=-o+pid,user", false},
        {"GET", "/containers/c1/top", "other=e", false},
        {"POST", "/containers/c1/top", "ps_args=e", false},  // no such route: not a read
        {"GET", "/containers/json", "ps_args=e", false},
        {"GET", "/libpod/containers/c1/top", "ps_args=eww", true},
        {"GET", "/libpod/pods/p1/top", "ps_args=e", true},
        // Older libpod clients' single value is split on commas: "user" becomes BSD u s e r.
        {"GET", "/libpod/containers/c1/top", "ps_args=-o+pid,user", true},
        {"GET", "/libpod/containers/c1/top", "ps_args=-ef", false},
        {"GET", "/libpod/containers/c1/top", "ps_args=aux", false},
        {"GET", "/containers/c1/logs", "stdout=1&details=1", true},
        {"GET", "/containers/c1/logs", "stdout=1&details=true", true},
        {"GET", "/containers/c1/logs", "details=yes", true},
        {"GET", "/containers/c1/logs", "details=0&details=1", true},
        {"GET", "/containers/c1/logs", "Details=1", true},
        {"GET", "/services/s1/logs", "details=1", true},
        {"GET", "/tasks/t1/logs", "details=1", true},
        {"GET", "/libpod/containers/c1/logs", "details=1", true},
        {"GET", "/containers/c1/logs", "stdout=1&details=0", false},
        {"GET", "/containers/c1/logs", "stdout=1&details=false", false},
        {"GET", "/containers/c1/logs", "stdout=1&details=", false},
        {"GET", "/containers/c1/logs", "stdout=1&follow=1&tail=10", false},
        {"GET", "/containers/c1/json", "details=1", false},
    };
    for (const GuardRow& row : rows) {
        EXPECT_EQ(refuse_read(row.method, row.route, row.query, false).has_value(), row.refused)
            << row.method << ' ' << row.route << '?' << row.query;
    }
    EXPECT_TRUE(refuse_read("GET", "/containers/c1/logs", "", true)) << "form body";
    // What the client sent is echoed on one line, its odd bytes escaped.
    const auto echoed = refuse_read("GET", "/containers/c1/top", "ps_args=e%0A%1B%22", false);
    ASSERT_TRUE(echoed);
    EXPECT_EQ(echoed->find_first_of("\r\n\x1b"), std::string::npos) << *echoed;
    EXPECT_NE(echoed->find("e%0A%1B%22"), std::string::npos) << *echoed;
    EXPECT_FALSE(refuse_read("GET", "/containers/c1/json", "", true)) << "not guarded";
}

Rule allow_everything(std::optional<bool> redact) {
    Rule rule;
    rule.name = "everything";
    rule.verdict = Verdict::allow;
    rule.redact = redact;
    return rule;
}

// The guard sits in decide(), so a policy file's allow rule cannot open what the built-in
// policy keeps closed; a rule with redaction off has agreed to show secrets.
TEST(ReadGuardTest, HoldsUnderEveryPolicyThatRedacts) {
    const std::string_view top = "/v1.41/containers/c1/top?ps_args=ewwo%20pid,args";
    const std::string_view details = "/containers/c1/logs?stdout=1&details=1";
    Policy file_policy;
    file_policy.rules = {allow_everything(std::nullopt)};
    Policy default_allow;
    default_allow.default_verdict = Verdict::allow;
    for (const Policy* policy : {&file_policy, &default_allow}) {
        for (const std::string_view target : {top, details}) {
            const Decision decision = decide(Request{"GET", target, "docker"}, {}, *policy);
            EXPECT_FALSE(decision.allowed()) << target;
            EXPECT_EQ(decision.status, 403);
            EXPECT_EQ(decision.rule, "read-guard");
            EXPECT_NE(decision.message.find("socket-proxy denied GET"), std::string::npos);
        }
    }
    const Policy built_in = Policy::read_only();
    const Decision refused = decide(Request{"GET", top, "docker"}, {}, built_in);
    EXPECT_FALSE(refused.allowed());
    EXPECT_NE(refused.message.find("environment"), std::string::npos) << refused.message;
    EXPECT_TRUE(
        decide(Request{"GET", "/containers/c1/top?ps_args=-ef", "docker"}, {}, built_in).allowed());
    EXPECT_TRUE(
        decide(Request{"GET", "/containers/c1/logs?stdout=1", "docker"}, {}, built_in).allowed());

    Policy unredacted;
    unredacted.rules = {allow_everything(false)};
    EXPECT_TRUE(decide(Request{"GET", top, "docker"}, {}, unredacted).allowed());
    Policy off = file_policy;
    off.redact = false;
    EXPECT_TRUE(decide(Request{"GET", details, "docker"}, {}, off).allowed());
}

}  // namespace
}  // namespace socket_proxy
