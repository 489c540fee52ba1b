#include "credentials/shared_files.hpp"
#include "credentials/text.hpp"

#include <cstdlib>
#include <fstream>
#include <pwd.h>
#include <sstream>
#include <unistd.h>

namespace sds::detail {
namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string home() {
    if (auto h = env("HOME"); !h.empty()) return h;
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
    return {};
}

std::string expand(std::string path) {
    if (path.starts_with("~/")) return home() + path.substr(1);
    return path;
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Sections by their header text (inside the brackets, trimmed), then keys.
std::map<std::string, profile_values> parse_ini(const std::string& text) {
    std::map<std::string, profile_values> sections;
    profile_values* current = nullptr;
    std::string parent;  // a key with an empty value: indented lines below are its sub-keys
    std::istringstream in(text);
    for (std::string raw; std::getline(in, raw);) {
        if (!raw.empty() && raw.back() == '\r') raw.pop_back();
        const std::string line = trimmed(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        const bool indented = raw[0] == ' ' || raw[0] == '\t';
        if (line.front() == '[') {
            const auto close = line.find(']');
            if (close == std::string::npos) {
                current = nullptr;
                continue;
            }
            current = &sections[trimmed(line.substr(1, close - 1))];
            parent.clear();
            continue;
        }
        const auto eq = line.find('=');
        if (!current || eq == std::string::npos) continue;
        const std::string key = lower(trimmed(line.substr(0, eq)));
        const std::string value = trimmed(line.substr(eq + 1));
        if (indented && !parent.empty()) {
            current->values[parent + "." + key] = value;
            continue;
        }
        current->values[key] = value;
        parent = value.empty() ? key : std::string();
    }
    return sections;
}

} // namespace

std::string profile_values::get(const std::string& key) const {
    const auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
}

shared_files shared_files::parse(const std::string& credentials_text, const std::string& config_text) {
    shared_files f;
    f.credentials_ = parse_ini(credentials_text);
    for (auto& [header, values] : parse_ini(config_text)) {
        std::string name = header;
        if (header.starts_with("profile ") || header.starts_with("profile\t")) {
            name = trimmed(header.substr(8));
        } else if (header.starts_with("services ")) {
            f.services_[trimmed(header.substr(9))] = values;
            continue;
        } else if (header != "default") {
            continue;  // sso-session and other kinds
        }
        // "[profile default]" and "[default]" are the same profile.
        auto& into = f.config_[name].values;
        for (auto& [k, v] : values.values) into[k] = v;
    }
    return f;
}

shared_files shared_files::load() {
    std::string credentials_path = env("AWS_SHARED_CREDENTIALS_FILE");
    if (credentials_path.empty()) credentials_path = "~/.aws/credentials";
    std::string config_path = env("AWS_CONFIG_FILE");
    if (config_path.empty()) config_path = "~/.aws/config";
    shared_files f = parse(read_all(expand(credentials_path)), read_all(expand(config_path)));
    f.credentials_path_ = credentials_path;
    f.config_path_ = config_path;
    return f;
}

std::string shared_files::selected_profile_name() {
    const std::string p = env("AWS_PROFILE");
    return p.empty() ? "default" : p;
}

std::optional<profile_values> shared_files::profile(const std::string& name) const {
    const auto in_config = config_.find(name);
    const auto in_credentials = credentials_.find(name);
    if (in_config == config_.end() && in_credentials == credentials_.end()) return std::nullopt;
    profile_values merged;
    if (in_config != config_.end()) merged = in_config->second;
    if (in_credentials != credentials_.end())
        for (const auto& [k, v] : in_credentials->second.values) merged.values[k] = v;
    return merged;
}

std::optional<profile_values> shared_files::services(const std::string& name) const {
    const auto it = services_.find(name);
    if (it == services_.end()) return std::nullopt;
    return it->second;
}

std::string shared_files::describe() const {
    return "'" + (credentials_path_.empty() ? std::string("the credentials file") : credentials_path_) + "' and '" +
           (config_path_.empty() ? std::string("the config file") : config_path_) + "'";
}

} // namespace sds::detail
