"""Alice & Bob: the key-and-door gridworld of STAS (Chen, Zhang et al., AAAI 2024, arXiv 2304.07520),
rules as in the paper's released code (envs/alice_and_bob/alice_and_bob.py), written anew.

A 9x9 grid (border walls) holds two rooms in the top half, Alice's (rows 1-3, columns 1-3) and Bob's
(rows 1-3, columns 5-7), walled off from the open bottom half by row 4. Each room's door is a wall cell
in row 4 (Alice's at (4, 2), Bob's at (4, 6)) until its key is picked up:
  - key 0 at (3, 5), inside Bob's room, opens Alice's door;
  - key 1 at (5, 1), in the bottom half, opens Bob's door.
Alice starts at (1, 1), Bob at (1, 7). The treasure at (7, 7) pays +100 and ends the episode when an
agent stands on it while neither agent is inside a room. Each move into a wall costs -0.1. Agents move
one after the other (Alice first) and may share a cell. Actions: 0 column+1, 1 column-1, 2 row-1,
3 row+1. The episode lasts 40 steps unless the treasure is found. The team return (sum of the step
rewards) is paid only at the end (`delayed=True`, see parallel.py). The simulator has no randomness:
`reset(seed)` is accepted for the API and every episode is a function of the actions.

Observation per agent (19 numbers, as in the paper's code): the 3x3 patch of cell codes around the agent
(0 floor, 1 wall, 2/3 key 0/1, 5/6 Alice/Bob, 7 treasure), its own (row, column), its offset to the other
agent, its offset to each key still on the floor (zeros once taken), whether it is inside a room, and
the event of its last step (-1 wall bump, 2/3 picked key 0/1, 7 reached the treasure, else 0).
"""

from __future__ import annotations

import numpy as np

from accord.marl.envs.parallel import ArrayParallelEnv

FLOOR, WALL, AGENT_CODE, TREASURE_CODE = 0, 1, (5, 6), 7
KEY_CODE = (2, 3)
KEYS = ((3, 5), (5, 1))            # key j opens DOORS[j]
DOORS = ((4, 2), (4, 6))            # Alice's door, Bob's door
STARTS = ((1, 1), (1, 7))
TREASURE = (7, 7)
MOVES = ((0, 1), (0, -1), (-1, 0), (1, 0))
BUMP_PENALTY, TREASURE_REWARD = -0.1, 100.0


def in_room(position) -> bool:
    row, col = position
    return 1 <= row <= 3 and (1 <= col <= 3 or 5 <= col <= 7)


class AliceBob(ArrayParallelEnv):
    n_agents, obs_dim, n_actions = 2, 19, 4

    def __init__(self, episode_length: int = 40, delayed: bool = True):
        self.episode_length = episode_length
        super().__init__(delayed)

    def _new_episode(self, rng):
        grid = np.zeros((9, 9), dtype=np.int64)
        grid[[0, -1], :] = WALL
        grid[:, [0, -1]] = WALL
        grid[1:5, 4] = WALL
        grid[4, 1:8] = WALL
        for j, key in enumerate(KEYS):
            grid[key] = KEY_CODE[j]
        for i, start in enumerate(STARTS):
            grid[start] = AGENT_CODE[i]
        grid[TREASURE] = TREASURE_CODE
        self.grid = grid
        self.positions = [list(start) for start in STARTS]
        self.key_on_floor = [True, True]
        self.events = [0, 0]

    def _move(self, actions):
        reward, events = 0.0, [0, 0]
        for i, action in enumerate(actions):
            row, col = self.positions[i]
            d_row, d_col = MOVES[action]
            if self.grid[row + d_row, col + d_col] == WALL:
                events[i] = -1
                reward += BUMP_PENALTY
                continue
            self.grid[row, col] = FLOOR   # as in the paper's code, even if the other agent stands there
            self.positions[i] = [row + d_row, col + d_col]
            self.grid[row + d_row, col + d_col] = AGENT_CODE[i]
        for i in range(self.n_agents):
            for j, key in enumerate(KEYS):
                if self.key_on_floor[j] and tuple(self.positions[i]) == key:
                    self.key_on_floor[j] = False
                    self.grid[DOORS[j]] = FLOOR
                    events[i] = KEY_CODE[j]
        terminated = False
        on_treasure = [tuple(p) == TREASURE for p in self.positions]
        if any(on_treasure) and not any(in_room(p) for p in self.positions):
            reward += TREASURE_REWARD
            events[0 if on_treasure[0] else 1] = TREASURE_CODE
            terminated = self.success = True
        self.events = events
        return reward, terminated

    def _observe(self):
        rows = []
        for i in range(self.n_agents):
            row, col = self.positions[i]
            own = np.array(self.positions[i], dtype=np.float64)
            patch = self.grid[row - 1:row + 2, col - 1:col + 2].reshape(-1)
            other = own - np.array(self.positions[1 - i])
            keys = np.concatenate([own - np.array(key) if self.key_on_floor[j] else np.zeros(2)
                                   for j, key in enumerate(KEYS)])
            status = [1.0 if in_room(self.positions[i]) else 0.0, float(self.events[i])]
            rows.append(np.concatenate([patch, own, other, keys, status]))
        return np.asarray(rows, dtype=np.float32)
