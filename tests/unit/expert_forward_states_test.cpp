// SDK expert_forward_states.hpp, the glue every ExpertGroupedBlock shares: per-(pass, sample) forward states,
// the block output residual + routed + shared (against a float64 sum), and the refusals naming the block.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"
#include "modelslim/expert_forward_states.hpp"
#include "modelslim/expert_streaming.hpp"

using namespace modelslim;

namespace {

struct TestRouting {
  int chosen = 0;
};

ExpertForwardState<TestRouting> make_state(double shift, bool shared) {
  ExpertForwardState<TestRouting> state;
  state.residual = at::full({1, 3, 4}, shift);
  state.flat = at::arange(12, at::kFloat).reshape({3, 4});
  state.routing.chosen = static_cast<int>(shift);
  state.routed = state.flat * 0.5;
  if (shared) state.shared = state.flat * 0.25;
  return state;
}

}  // namespace

TEST_CASE("expert forward states: output, per (pass, sample), dropped passes and refusals") {
  ExpertForwardStates<TestRouting> states("model.layers.4");
  states.start(0, 0, make_state(1, true));
  states.start(0, 1, make_state(2, false));
  states.start(1, 0, make_state(3, true));
  CHECK(states.at(0, 1).routing.chosen == 2);
  states.at(0, 0).routed += 1;  // what forward_experts adds in place

  // residual + routed (+ shared), by hand in float64
  const at::Tensor flat = at::arange(12, at::kDouble).reshape({1, 3, 4});
  const at::Tensor with_shared = states.finish(0, 0).to(at::kDouble);
  CHECK((with_shared - (1 + (flat * 0.5 + 1) + flat * 0.25)).abs().max().item<double>() < 1e-6);
  const at::Tensor without_shared = states.finish(0, 1).to(at::kDouble);
  CHECK((without_shared - (2 + flat * 0.5)).abs().max().item<double>() < 1e-6);
  CHECK(without_shared.sizes() == at::IntArrayRef({1, 3, 4}));

  // A finished sample is forgotten; a dropped pass too, other passes stay.
  CHECK_THROWS_WITH_AS(states.at(0, 0), "block model.layers.4: no forward_resident for pass 0, sample 0",
                       Error);
  states.start(2, 0, make_state(5, false));
  states.drop_pass(1);
  CHECK_THROWS_AS(states.finish(1, 0), Error);
  CHECK(states.at(2, 0).routing.chosen == 5);
}

TEST_CASE("expert forward states: expert ranges, forwards and groups refused by name") {
  check_routed_expert_range("model.layers.1", 0, 8, 8);
  check_routed_expert_range("model.layers.1", 6, 2, 8);
  CHECK_THROWS_WITH_AS(check_routed_expert_range("model.layers.1", 6, 3, 8),
                       "block model.layers.1: no routed experts [6, 9) among 8", Error);
  CHECK_THROWS_AS(check_routed_expert_range("model.layers.1", -1, 2, 8), Error);
  CHECK_THROWS_AS(check_routed_expert_range("model.layers.1", 2, 0, 8), Error);
  CHECK_THROWS_WITH_AS(refuse_forward_without_experts("model.layers.1"),
                       doctest::Contains("model.layers.1 was loaded without its routed experts"), Error);
  CHECK_THROWS_WITH_AS(refuse_expert_group_forward("model.layers.1"),
                       doctest::Contains("a group of routed experts has no forward of its own"), Error);

  BlockPart other("model.layers.2", {}, {});
  CHECK(&own_expert_group<BlockPart>("model.layers.2", other) == &other);
  CHECK_THROWS_WITH_AS(own_expert_group<BlockPart>("model.layers.1", other),
                       "block model.layers.1: forward_experts needs a group from its own load_experts",
                       Error);
}
