// cudaemu: the kernels compiled for the host, by PTX entry name.
#include <map>
#include <string>

#include "emu.h"

namespace emu {

static std::map<std::string, Binder>& registry() {
    static auto* r = new std::map<std::string, Binder>;  // never destroyed: kernels may run at exit
    return *r;
}

void registerKernel(const char* name, Binder b) { registry()[name] = std::move(b); }

const Binder* findKernel(const char* name) {
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : &it->second;
}

}  // namespace emu
