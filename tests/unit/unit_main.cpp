#include "support/catch_run.hpp"

int main(int argc, char* argv[]) { return sds::test::run_catch(argc, argv); }
