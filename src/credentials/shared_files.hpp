// The AWS shared configuration files: ~/.aws/credentials and ~/.aws/config.
//
// INI as the AWS tools read it: [name] sections in the credentials file;
// [default], [profile name] and [services name] sections in the config file;
// "key = value" lines (keys lower-cased); full-line comments starting with
// '#' or ';'; a key with an empty value followed by indented "sub = value"
// lines gives "key.sub" keys (services sections: "dynamodb.endpoint_url").
// For a profile, the credentials file's values win over the config file's.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace sds::detail {

struct profile_values {
    std::map<std::string, std::string> values;
    /// The value of `key`, empty if none.
    std::string get(const std::string& key) const;
};

class shared_files {
public:
    /// Reads AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials) and
    /// AWS_CONFIG_FILE (default ~/.aws/config); a missing file is empty.
    static shared_files load();
    /// Parses the two files' text (for tests).
    static shared_files parse(const std::string& credentials_text, const std::string& config_text);

    /// AWS_PROFILE, else "default".
    static std::string selected_profile_name();
    std::string selected_profile() const { return selected_profile_name(); }

    std::optional<profile_values> profile(const std::string& name) const;
    bool has_profile(const std::string& name) const { return profile(name).has_value(); }
    /// A [services name] section of the config file.
    std::optional<profile_values> services(const std::string& name) const;

    /// The files' paths, for messages.
    std::string describe() const;

private:
    std::map<std::string, profile_values> credentials_, config_, services_;
    std::string credentials_path_, config_path_;
};

} // namespace sds::detail
