// A Node server the test starts as a child process (a test server of
// tests/integration/), listening on a port it picks: the first line it
// prints on stdout names the port. Stopped (SIGTERM, then waited for) when
// the object goes.
#pragma once

#include <csignal>
#include <regex>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace sds::test {

class node_child {
public:
    /// Runs `node script args...`; `listening` is a regex whose first group
    /// is the port, searched in the first line of stdout.
    node_child(const std::string& script, const std::vector<std::string>& args, const std::string& listening) {
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
        std::vector<std::string> argv_text{"node", script};
        argv_text.insert(argv_text.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_text) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], 1);
            ::close(out[0]);
            ::close(out[1]);
            ::execvp("node", argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        std::string line;
        char c;
        while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
        ::close(out[0]);
        std::smatch m;
        if (!std::regex_search(line, m, std::regex(listening)))
            throw std::runtime_error(script + " did not start: " + line);
        port_ = m[1];
    }
    ~node_child() {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    node_child(const node_child&) = delete;
    node_child& operator=(const node_child&) = delete;

    const std::string& port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + port_; }

private:
    pid_t pid_ = -1;
    std::string port_;
};

} // namespace sds::test
