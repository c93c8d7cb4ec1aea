"""Generate the quickstart's training data: SFT conversations and KTO pairs for every Claudesidian tool.

Written by the project, line by line from the request templates below (nothing is copied from the upstream
datasets): each of the 47 tools is asked for in several phrasings (plain requests, requests that name the
parameters, vague ones), with values drawn from pools that share nothing with the evaluation prompt sets
(`tests/core/test_quickstart_data.py` checks that), system prompts in the two Claudesidian styles with fresh
session and workspace ids, two-tool requests, questions no tool answers, and KTO pairs whose undesirable side
makes the mistakes small models make (a sibling tool, an invented name, the wrong session id, a missing
parameter, prose instead of a call).

Usage: ``.venv/bin/python packages/toolset-core/scripts/generate_quickstart_data.py [--check]``
(``--check`` exits 1 if the shipped files differ from what this script writes).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SEED = 2026
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "toolset" / "samples"
SFT_FILE, KTO_FILE = "quickstart_sft.jsonl", "quickstart_kto.jsonl"
SFT_PER_TOOL, KTO_PER_TOOL = 6, 2
TWO_TOOL_REQUESTS, TEXT_ANSWERS = 40, 30

# --- value pools (none of these values appears in an evaluation prompt set) -------------------------------

NOTES = [
    "Research/Thesis/chapter-2.md",
    "Journal/2025-03-14.md",
    "Recipes/lentil-soup.md",
    "Work/Reports/q3-summary.md",
    "Books/reading-list.md",
    "Travel/lisbon-itinerary.md",
    "Home/Renovation/kitchen-budget.md",
    "Inbox/ideas.md",
    "Podcast/episode-12-notes.md",
    "Health/running-log.md",
    "Work/Clients/Halden/kickoff.md",
    "Courses/statistics-week-4.md",
    "Family/birthday-plans.md",
    "Finance/tax-checklist.md",
    "Writing/short-story-draft.md",
    "Garage/bike-maintenance.md",
]
FOLDERS = [
    "Research/Thesis/Drafts",
    "Archive/2023",
    "Journal/2024",
    "Recipes/Desserts",
    "Work/Clients/Halden",
    "Travel/Japan",
    "Podcast/Guests",
    "Inbox/Old",
    "Courses/Statistics",
    "Finance/Receipts",
    "Writing/Poems",
    "Home/Manuals",
]
MOVED_FOLDERS = ["Archive/Thesis-Drafts", "Archive/2023-old", "Journal/Past", "Recipes/Sweet", "Clients/Halden"]
MOVED_FOLDERS += ["Travel/Asia/Japan", "Podcast/People", "Archive/Inbox", "Courses/Done/Statistics"]
CONTENT = [
    "- [ ] Email the landlord about the heater",
    "## Summary\nThe pilot met two of its three goals.",
    "Met Sam at the library; he recommends reading Norman first.",
    "Budget so far: 1,240 EUR of 2,000 EUR.",
    "Remember to water the basil on Tuesdays.",
    "Next step: draft the methods section.",
    "Guest confirmed for the 14th at 10:00.",
    "Ran 7 km in 41 minutes, felt easy.",
    "TODO: compare the two insurance quotes.",
    "Idea: a map of every bakery we visited.",
]
QUERIES = [
    "sourdough starter",
    "tax deadline",
    "interview questions",
    "kitchen tiles",
    "citation style",
    "flight numbers",
    "running shoes",
    "lecture slides",
    "client invoice",
    "book club",
    "warranty",
    "podcast microphone",
]
COMMANDS = [
    "editor:toggle-italic",
    "app:open-settings",
    "daily-notes",
    "editor:insert-link",
    "workspace:split-vertical",
    "file-explorer:reveal-active-file",
    "graph:open",
    "command-palette:open",
    "editor:toggle-checklist-status",
]
AGENTS = [
    ("Citation Checker", "Checks that every claim in a draft has a source", "You check citations in research notes."),
    ("Meal Planner", "Plans weekly meals from the recipe folder", "You plan meals from the user's recipes."),
    ("Inbox Sorter", "Files loose notes into the right folders", "You suggest a folder for each new note."),
    ("Travel Buddy", "Builds day-by-day itineraries", "You turn travel notes into a daily plan."),
    ("Budget Watcher", "Tracks spending notes against the budget", "You total expenses and flag overruns."),
    ("Show Producer", "Prepares podcast episode outlines", "You outline podcast episodes from guest notes."),
]
MODELS = [("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4"), ("google", "gemini-2.0-flash")]
WORKSPACE_NAMES = [
    ("Thesis Research", "Research/Thesis"),
    ("Home Renovation", "Home/Renovation"),
    ("Podcast Production", "Podcast"),
    ("Halden Account", "Work/Clients/Halden"),
    ("Lisbon Trip", "Travel"),
    ("Statistics Course", "Courses"),
    ("Family Admin", "Family"),
    ("Novel Writing", "Writing"),
]
STATE_NAMES = ["before the big rewrite", "end of sprint 4", "pre-trip packing", "draft one done", "budget freeze"]
SESSION_NAMES = ["Chapter two edits", "Kitchen planning", "Episode 12 prep", "Tax weekend", "Trip packing"]
TAGS = ["draft", "important", "review", "travel", "finance", "ideas"]
MANAGERS = ["vaultManager", "contentManager", "memoryManager", "vaultLibrarian", "agentManager", "commandManager"]
TEXT_QA = [
    ("How many days are there in a leap year?", "A leap year has 366 days."),
    ("What is 15% of 80?", "15% of 80 is 12."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("What does 'ephemeral' mean?", "'Ephemeral' means lasting for a very short time."),
    ("How many centimetres are in a metre?", "There are 100 centimetres in a metre."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest."),
    ("Can you give me an antonym of 'generous'?", "An antonym of 'generous' is 'stingy'."),
    ("What is the square root of 144?", "The square root of 144 is 12."),
    ("In which continent is Kenya?", "Kenya is in Africa."),
    ("What gas do plants take in for photosynthesis?", "Plants take in carbon dioxide (CO2)."),
    ("How do you say 'thank you' in French?", "'Thank you' in French is 'merci'."),
    ("What is 9 times 7?", "9 times 7 is 63."),
    ("Which is heavier, a kilogram of feathers or a kilogram of iron?", "Neither: both weigh one kilogram."),
    ("What year did the Second World War end?", "The Second World War ended in 1945."),
    ("What is the freezing point of water in Celsius?", "Water freezes at 0 degrees Celsius."),
    ("How many sides does a hexagon have?", "A hexagon has six sides."),
    ("Thanks, that's all for now!", "You're welcome! Let me know if you need anything else in your vault."),
    (
        "What's a good way to start a daily journaling habit?",
        "Start small: write three lines at the same time each day, for example right after breakfast.",
    ),
    (
        "Can you explain what a wiki link is in Obsidian?",
        "A wiki link is a link written as [[Note name]]; Obsidian turns it into a link to that note.",
    ),
    ("What is the plural of 'cactus'?", "Both 'cacti' and 'cactuses' are correct."),
    ("Convert 5 kilometres to miles, roughly.", "5 kilometres is about 3.1 miles."),
    ("Who wrote 'One Hundred Years of Solitude'?", "Gabriel Garcia Marquez wrote it."),
    ("What is the main language spoken in Brazil?", "Portuguese is the main language of Brazil."),
    ("Is a tomato a fruit or a vegetable?", "Botanically a tomato is a fruit; in cooking it is used as a vegetable."),
    ("What does CPU stand for?", "CPU stands for central processing unit."),
    ("How many hours are in two days?", "Two days have 48 hours."),
    ("Hello! How are you today?", "Hello! I'm doing well - what would you like to do in your vault?"),
    (
        "What's the difference between 'affect' and 'effect'?",
        "'Affect' is usually a verb (to influence); 'effect' is usually a noun (a result).",
    ),
    ("Name a prime number between 20 and 30.", "23 is a prime number between 20 and 30 (29 is another)."),
]
AGENT_TOPICS = {
    "vaultManager": "Vault organisation",
    "contentManager": "Note editing",
    "memoryManager": "Sessions and memory",
    "vaultLibrarian": "Vault search",
    "agentManager": "Custom agents",
    "commandManager": "Obsidian commands",
    "get": "Tool discovery",
}


class Values:
    """The values of one conversation, drawn from the pools with its random generator."""

    def __init__(self, rng: random.Random, workspaces: list[tuple[str, str, str]]) -> None:
        self.rng = rng
        self.workspaces = workspaces  # (name, id, root folder); the first is the current one

    def pick(self, pool: list[Any]) -> Any:
        return self.rng.choice(pool)

    def stamp(self) -> str:
        return str(self.rng.randint(1_700_000_000_000, 1_769_999_999_999))

    def suffix(self) -> str:
        return "".join(self.rng.choice(string.ascii_lowercase + string.digits) for _ in range(9))

    def state_id(self) -> str:
        return f"state_{self.stamp()}_{self.suffix()}"

    def session_id(self) -> str:
        return f"session_{self.stamp()}_{self.suffix()}"

    def agent_id(self, name: str) -> str:
        return f"agent_{self.stamp()}_{name.lower().replace(' ', '_')}"


# --- the tools: how a user asks for each, and the arguments the answer carries -------------------------------
# A template is (request, arguments): ``request`` is formatted with the drawn values; ``arguments`` maps each
# parameter to a key of those values (a string naming one) or to a literal (any other value, via ``Lit``).


class Lit:
    def __init__(self, value: Any) -> None:
        self.value = value


Draw = Callable[[Values], dict[str, Any]]


def _note(v: Values) -> dict[str, Any]:
    return {"note": v.pick(NOTES)}


def _folder(v: Values) -> dict[str, Any]:
    return {"folder": v.pick(FOLDERS)}


def _note_content(v: Values) -> dict[str, Any]:
    return {"note": v.pick(NOTES), "content": v.pick(CONTENT)}


def _two_notes(v: Values) -> dict[str, Any]:
    source = v.pick(NOTES)
    stem, name = source.rsplit("/", 1)
    return {"note": source, "copy": f"{stem}/{name[:-3]}-copy.md", "moved": f"Archive/{name}"}


def _folder_move(v: Values) -> dict[str, Any]:
    index = v.rng.randrange(len(MOVED_FOLDERS))
    return {"folder": FOLDERS[index], "moved": MOVED_FOLDERS[index]}


def _agent(v: Values) -> dict[str, Any]:
    name, description, prompt = v.pick(AGENTS)
    return {"agent": name, "agent_id": v.agent_id(name), "description": description, "prompt": prompt}


def _model(v: Values) -> dict[str, Any]:
    provider, model = v.pick(MODELS)
    return {"provider": provider, "model": model, "question": v.pick(QA_PROMPTS), "note": v.pick(NOTES)}


def _search(v: Values) -> dict[str, Any]:
    return {"query": v.pick(QUERIES), "folder": v.pick(FOLDERS), "limit": v.rng.choice([5, 10, 20])}


def _workspace(v: Values) -> dict[str, Any]:
    name, workspace_id, root = v.workspaces[v.rng.randrange(len(v.workspaces))]
    return {"workspace": name, "workspace_id": workspace_id, "root": root, "query": v.pick(QUERIES)}


def _state(v: Values) -> dict[str, Any]:
    return {"state": v.pick(STATE_NAMES), "state_id": v.state_id(), "tag": v.pick(TAGS)}


def _session(v: Values) -> dict[str, Any]:
    return {"session": v.pick(SESSION_NAMES), "session_id": v.session_id(), "limit": v.rng.choice([5, 10])}


QA_PROMPTS = [
    "Summarise the open questions in my thesis notes.",
    "List three quick dinners from my recipes.",
    "Draft an outline for the next podcast episode.",
    "Turn my trip notes into a packing list.",
]


def _new_workspace(v: Values) -> dict[str, Any]:
    name, root = v.pick(WORKSPACE_NAMES)
    return {
        "name": f"{name} 2",
        "root": f"{root}-2",
        "purpose": f"Keep the {name.lower()} notes together",
        "goal": "Collect the first notes",
        "workflow": [{"name": "Weekly review", "when": "Every Friday", "steps": ["Read new notes", "File them"]}],
    }


def _batch_search(v: Values) -> dict[str, Any]:
    first, second = v.rng.sample(QUERIES, 2)
    return {"first": first, "second": second, "searches": [{"query": first}, {"query": second}]}


def _batch_content(v: Values) -> dict[str, Any]:
    first, second = v.rng.sample(NOTES, 2)
    text = v.pick(CONTENT)
    operations = [
        {"type": "append", "filePath": first, "content": text},
        {"type": "append", "filePath": second, "content": text},
    ]
    return {"first": first, "second": second, "content": text, "operations": operations}


def _batch_prompts(v: Values) -> dict[str, Any]:
    first, second = v.rng.sample(QA_PROMPTS, 2)
    return {"first": first, "second": second, "prompts": [{"prompt": first}, {"prompt": second}]}


def _managers(v: Values) -> dict[str, Any]:
    chosen = v.rng.sample(MANAGERS, v.rng.choice([1, 2]))
    return {"managers": chosen, "managers_text": " and ".join(chosen)}


def _lines(v: Values) -> dict[str, Any]:
    start = v.rng.randint(2, 20)
    return {"note": v.pick(NOTES), "start": start, "end": start + v.rng.randint(0, 4), "content": v.pick(CONTENT)}


def _find_replace(v: Values) -> dict[str, Any]:
    old, new = v.pick([("TODO", "DONE"), ("draft", "final"), ("2024", "2025"), ("Sam", "Samuel"), ("km", "kilometres")])
    return {"note": v.pick(NOTES), "old": old, "new": new}


def _command(v: Values) -> dict[str, Any]:
    return {"command": v.pick(COMMANDS), "word": v.pick(["editor", "workspace", "graph", "file"])}


def _image(v: Values) -> dict[str, Any]:
    subject = v.pick(["a cosy reading corner", "a map of Lisbon in watercolour", "a bowl of lentil soup"])
    stem = subject.split(" of ")[-1].replace("a ", "").replace(" ", "-")
    return {"subject": subject, "save": f"Assets/{stem}.png", "provider": "google"}


TOOLS: dict[str, tuple[str, Draw, list[tuple[str, dict[str, Any]]]]] = {
    # name: (what the call does, for its context; values; [(request, arguments)])
    "get_tools": (
        "look up the tool schemas of {managers_text}",
        _managers,
        [
            ("Which tools does {managers_text} have? Fetch their schemas.", {"managers": "managers"}),
            ("Load the tool definitions for {managers_text}.", {"managers": "managers"}),
            ("Before we start, get the tools of {managers_text}.", {"managers": "managers"}),
        ],
    ),
    "vaultManager_createFolder": (
        "create the folder {folder}",
        _folder,
        [
            ("Create a folder called {folder}.", {"path": "folder"}),
            ('Make a new folder at "{folder}".', {"path": "folder"}),
            ("I need a {folder} folder, can you set it up?", {"path": "folder"}),
        ],
    ),
    "vaultManager_deleteFolder": (
        "delete the folder {folder}",
        _folder,
        [
            ("Delete the folder {folder}.", {"path": "folder"}),
            ("Please remove {folder} and everything inside it.", {"path": "folder", "recursive": Lit(True)}),
            ("I don't need the {folder} folder anymore, delete it.", {"path": "folder"}),
        ],
    ),
    "vaultManager_editFolder": (
        "rename the folder {folder} to {moved}",
        _folder_move,
        [
            ("Rename the folder {folder} to {moved}.", {"path": "folder", "newPath": "moved"}),
            ('Change the folder path "{folder}" to "{moved}".', {"path": "folder", "newPath": "moved"}),
        ],
    ),
    "vaultManager_moveFolder": (
        "move the folder {folder} to {moved}",
        _folder_move,
        [
            ("Move the folder {folder} to {moved}.", {"path": "folder", "newPath": "moved"}),
            (
                "Put the whole {folder} folder under {moved}, overwriting if needed.",
                {"path": "folder", "newPath": "moved", "overwrite": Lit(True)},
            ),
        ],
    ),
    "vaultManager_listDirectory": (
        "list what is in {folder}",
        _folder,
        [
            ("What's inside {folder}?", {"path": "folder"}),
            ("List the directory {folder}.", {"path": "folder"}),
            ("Show me only the subfolders of {folder}.", {"path": "folder", "foldersOnly": Lit(True)}),
        ],
    ),
    "vaultManager_deleteNote": (
        "delete the note {note}",
        _note,
        [
            ("Delete the note {note}.", {"path": "note"}),
            ("Please trash {note}, it's outdated.", {"path": "note"}),
        ],
    ),
    "vaultManager_moveNote": (
        "move the note {note} to {moved}",
        _two_notes,
        [
            ("Move {note} to {moved}.", {"path": "note", "newPath": "moved"}),
            ('Move note: path "{note}", new path "{moved}".', {"path": "note", "newPath": "moved"}),
        ],
    ),
    "vaultManager_duplicateNote": (
        "duplicate {note} as {copy}",
        _two_notes,
        [
            ("Make a copy of {note} at {copy}.", {"sourcePath": "note", "targetPath": "copy"}),
            ("Duplicate the note {note} to {copy}.", {"sourcePath": "note", "targetPath": "copy"}),
        ],
    ),
    "vaultManager_openNote": (
        "open the note {note}",
        _note,
        [
            ("Open {note}.", {"path": "note"}),
            ("Open the note {note} in a split pane.", {"path": "note", "mode": Lit("split")}),
            ("Bring up {note} in a new tab.", {"path": "note", "mode": Lit("tab")}),
        ],
    ),
    "contentManager_readContent": (
        "read the note {note}",
        _note,
        [
            ("Read {note} for me.", {"filePath": "note"}),
            ("What does {note} say?", {"filePath": "note"}),
            ("Show the contents of {note} with line numbers.", {"filePath": "note", "includeLineNumbers": Lit(True)}),
        ],
    ),
    "contentManager_createContent": (
        "create the note {note}",
        _note_content,
        [
            ('Create a note at {note} with the text "{content}"', {"filePath": "note", "content": "content"}),
            ('New note {note}: "{content}"', {"filePath": "note", "content": "content"}),
        ],
    ),
    "contentManager_appendContent": (
        "add text to the end of {note}",
        _note_content,
        [
            ('Add "{content}" to the end of {note}.', {"filePath": "note", "content": "content"}),
            ('Append to {note}: "{content}"', {"filePath": "note", "content": "content"}),
        ],
    ),
    "contentManager_prependContent": (
        "add text to the top of {note}",
        _note_content,
        [
            ('Put "{content}" at the top of {note}.', {"filePath": "note", "content": "content"}),
            ('Insert at the beginning of {note}: "{content}"', {"filePath": "note", "content": "content"}),
        ],
    ),
    "contentManager_replaceContent": (
        "replace a passage in {note}",
        _find_replace,
        [
            (
                'In {note}, replace the text "{old}" with "{new}".',
                {"filePath": "note", "oldContent": "old", "newContent": "new"},
            ),
        ],
    ),
    "contentManager_findReplaceContent": (
        "replace {old} with {new} in {note}",
        _find_replace,
        [
            (
                'Find every "{old}" in {note} and change it to "{new}".',
                {"filePath": "note", "findText": "old", "replaceText": "new", "replaceAll": Lit(True)},
            ),
            ('Swap "{old}" for "{new}" in {note}.', {"filePath": "note", "findText": "old", "replaceText": "new"}),
        ],
    ),
    "contentManager_replaceByLine": (
        "replace lines {start}-{end} of {note}",
        _lines,
        [
            (
                'Replace lines {start} to {end} of {note} with "{content}"',
                {"filePath": "note", "startLine": "start", "endLine": "end", "newContent": "content"},
            ),
        ],
    ),
    "contentManager_deleteContent": (
        "remove a passage from {note}",
        _note_content,
        [
            ('Remove the line "{content}" from {note}.', {"filePath": "note", "content": "content"}),
            ('Delete this text from {note}: "{content}"', {"filePath": "note", "content": "content"}),
        ],
    ),
    "contentManager_batchContent": (
        "append the same text to {first} and {second}",
        _batch_content,
        [
            ('Append "{content}" to both {first} and {second}.', {"operations": "operations"}),
            ('In one batch, add "{content}" to {first} and to {second}.', {"operations": "operations"}),
        ],
    ),
    "vaultLibrarian_searchContent": (
        "search the notes for {query}",
        _search,
        [
            ('Search my notes for "{query}".', {"query": "query"}),
            ("Find notes that mention {query}, at most {limit} results.", {"query": "query", "limit": "limit"}),
            ("Where did I write about {query}?", {"query": "query"}),
        ],
    ),
    "vaultLibrarian_searchDirectory": (
        "search {folder} for {query}",
        _search,
        [
            ('Look in {folder} for anything named like "{query}".', {"query": "query", "paths": "folders"}),
            ("Search the directory {folder} for {query}.", {"query": "query", "paths": "folders"}),
        ],
    ),
    "vaultLibrarian_searchMemory": (
        "search the memory of {workspace} for {query}",
        _workspace,
        [
            (
                'Search the memory of the {workspace} workspace for "{query}".',
                {"query": "query", "workspaceId": "workspace_id"},
            ),
            (
                "What do my past sessions in {workspace} say about {query}?",
                {"query": "query", "workspaceId": "workspace_id"},
            ),
        ],
    ),
    "vaultLibrarian_batch": (
        "run two searches: {first} and {second}",
        _batch_search,
        [
            ('Run two searches at once: "{first}" and "{second}".', {"searches": "searches"}),
            ("Batch search for {first} and for {second}.", {"searches": "searches"}),
        ],
    ),
    "memoryManager_createSession": (
        "start a session named {session}",
        _session,
        [
            ('Start a new session called "{session}".', {"name": "session"}),
            ("Open a fresh session named {session}.", {"name": "session"}),
        ],
    ),
    "memoryManager_listSessions": (
        "list the recent sessions",
        _session,
        [
            ("List my last {limit} sessions.", {"limit": "limit"}),
            ("Show my sessions, newest first.", {"order": Lit("desc")}),
        ],
    ),
    "memoryManager_loadSession": (
        "load the session {session_id}",
        _session,
        [
            ("Load the session {session_id}.", {"sessionId": "session_id"}),
            ("Reopen session {session_id} so we can continue.", {"sessionId": "session_id"}),
        ],
    ),
    "memoryManager_updateSession": (
        "rename the session to {session}",
        _session,
        [
            ('Rename this session to "{session}".', {"name": "session"}),
        ],
    ),
    "memoryManager_createState": (
        "save a state named {state}",
        _state,
        [
            ('Save a checkpoint called "{state}".', {"name": "state"}),
            ('Create a state named "{state}" tagged {tag}.', {"name": "state", "tags": "tags"}),
        ],
    ),
    "memoryManager_listStates": (
        "list the saved states",
        _state,
        [
            ("List my saved states.", {}),
            ("Which states are tagged {tag}?", {"tags": "tags"}),
        ],
    ),
    "memoryManager_loadState": (
        "restore the state {state_id}",
        _state,
        [
            ("Restore the state {state_id}.", {"stateId": "state_id"}),
            ("Load state {state_id} and pick up where I left off.", {"stateId": "state_id"}),
        ],
    ),
    "memoryManager_updateState": (
        "rename the state {state_id}",
        _state,
        [
            ('Rename state {state_id} to "{state}".', {"stateId": "state_id", "name": "state"}),
            ("Tag the state {state_id} as {tag}.", {"stateId": "state_id", "addTags": "tags"}),
        ],
    ),
    "memoryManager_createWorkspace": (
        "create the workspace {name}",
        _new_workspace,
        [
            (
                'Create a workspace "{name}" rooted at {root}, for "{purpose}". Goal right now: {goal}.',
                {
                    "name": "name",
                    "rootFolder": "root",
                    "purpose": "purpose",
                    "currentGoal": "goal",
                    "workflows": "workflow",
                },
            ),
        ],
    ),
    "memoryManager_listWorkspaces": (
        "list the workspaces",
        _session,
        [
            ("List my workspaces.", {}),
            ("Show all workspaces, {limit} at most.", {"limit": "limit"}),
        ],
    ),
    "memoryManager_loadWorkspace": (
        "load the workspace {workspace}",
        _workspace,
        [
            ("Load the {workspace} workspace.", {"id": "workspace_id"}),
            ("Switch to workspace {workspace_id}.", {"id": "workspace_id"}),
        ],
    ),
    "memoryManager_updateWorkspace": (
        "update the goal of {workspace}",
        _workspace,
        [
            (
                'Set the current goal of {workspace} to "Finish the {query} notes".',
                {"workspaceId": "workspace_id", "fieldPath": Lit("currentGoal"), "newValue": "goal"},
            ),
        ],
    ),
    "agentManager_listAgents": (
        "list the custom agents",
        _agent,
        [
            ("Which custom agents do I have?", {}),
            ("List only the enabled agents.", {"enabledOnly": Lit(True)}),
        ],
    ),
    "agentManager_getAgent": (
        "look up the agent {agent}",
        _agent,
        [
            ('Show me the details of the agent "{agent}".', {"name": "agent"}),
            ("Get agent {agent_id}.", {"id": "agent_id"}),
        ],
    ),
    "agentManager_createAgent": (
        "create the agent {agent}",
        _agent,
        [
            (
                'Create an agent "{agent}" that {description_lower}. Its prompt: "{prompt}"',
                {"name": "agent", "description": "description", "prompt": "prompt"},
            ),
            (
                'New custom agent: name "{agent}", description "{description}", prompt "{prompt}"',
                {"name": "agent", "description": "description", "prompt": "prompt"},
            ),
        ],
    ),
    "agentManager_updateAgent": (
        "update the agent {agent_id}",
        _agent,
        [
            (
                'Change the description of agent {agent_id} to "{description}".',
                {"id": "agent_id", "description": "description"},
            ),
            ("Disable the agent {agent_id}.", {"id": "agent_id", "isEnabled": Lit(False)}),
        ],
    ),
    "agentManager_deleteAgent": (
        "delete the agent {agent_id}",
        _agent,
        [
            ("Delete the agent {agent_id}.", {"id": "agent_id"}),
            ("Remove agent {agent_id}, I don't use it.", {"id": "agent_id"}),
        ],
    ),
    "agentManager_toggleAgent": (
        "switch the agent {agent_id} on or off",
        _agent,
        [
            ("Toggle the agent {agent_id}.", {"id": "agent_id"}),
            ("Turn agent {agent_id} on or off.", {"id": "agent_id"}),
        ],
    ),
    "agentManager_listModels": (
        "list the available models",
        _model,
        [
            ("Which models can I use?", {}),
            ("List the available AI models.", {}),
        ],
    ),
    "agentManager_executePrompt": (
        "ask {model} a question",
        _model,
        [
            (
                'Ask {model} from {provider}: "{question}"',
                {"prompt": "question", "provider": "provider", "model": "model"},
            ),
            ('Run this prompt: "{question}"', {"prompt": "question"}),
            ('Using {note} as context, "{question}"', {"prompt": "question", "filepaths": "notes"}),
        ],
    ),
    "agentManager_batchExecutePrompt": (
        "run two prompts in a batch",
        _batch_prompts,
        [
            ('Run these two prompts in one batch: "{first}" and "{second}"', {"prompts": "prompts"}),
        ],
    ),
    "agentManager_generateImage": (
        "generate an image of {subject}",
        _image,
        [
            (
                "Generate an image of {subject} with {provider} and save it to {save}.",
                {"prompt": "subject", "provider": "provider", "savePath": "save"},
            ),
            (
                'Make a picture: "{subject}", provider {provider}, saved as {save}.',
                {"prompt": "subject", "provider": "provider", "savePath": "save"},
            ),
        ],
    ),
    "commandManager_listCommands": (
        "list the Obsidian commands",
        _command,
        [
            ("Which Obsidian commands are there?", {}),
            ('List the commands that contain "{word}".', {"filter": "word"}),
        ],
    ),
    "commandManager_executeCommand": (
        "run the command {command}",
        _command,
        [
            ("Run the command {command}.", {"commandId": "command"}),
            ("Execute {command} for me.", {"commandId": "command"}),
        ],
    ),
}


def derived(values: dict[str, Any]) -> dict[str, Any]:
    """Values some templates need besides the drawn ones."""
    extra: dict[str, Any] = {}
    if "folder" in values:
        extra["folders"] = [values["folder"]]
    if "note" in values:
        extra["notes"] = [values["note"]]
    if "tag" in values:
        extra["tags"] = [values["tag"]]
    if "query" in values:
        extra["goal"] = f"Finish the {values['query']} notes"
    if "description" in values:
        extra["description_lower"] = values["description"][0].lower() + values["description"][1:]
    return extra


# --- conversations ------------------------------------------------------------------------------------------


def workspaces(rng: random.Random) -> list[tuple[str, str, str]]:
    values = Values(rng, [])
    chosen = rng.sample(WORKSPACE_NAMES, rng.choice([1, 2, 2, 3]))
    return [(name, f"ws_{values.stamp()}_{values.suffix()}", root) for name, root in chosen]


def system_prompt(rng: random.Random, session: str, spaces: list[tuple[str, str, str]]) -> str:
    """A Claudesidian session prompt, in the bullet, the XML or the longer "IMPORTANT" style."""
    current_name, current, _root = spaces[0]
    style = rng.choice(["bullet", "xml", "important"])
    if style == "bullet":
        head = (
            '<session_context>\nInclude these values in the "context" parameter of every tool call:\n\n'
            f'- sessionId: "{session}"\n- workspaceId: "{current}" (current workspace: {current_name})\n'
            "</session_context>"
        )
    elif style == "xml":
        head = (
            f"<session_context>\n<sessionId>{session}</sessionId>\n<workspaceId>{current}</workspaceId>\n"
            'Pass both in the "context" argument of every tool call.\n</session_context>'
        )
    else:
        head = (
            "<session_context>\nIMPORTANT: When using tools, include these values in your tool call parameters:\n\n"
            f'- sessionId: "{session}"\n- workspaceId: "{current}" (current workspace)\n\n'
            'Include these in the "context" parameter of your tool calls.\n</session_context>'
        )
    listing = "\n".join(f'- {name} (id: "{ws}")' for name, ws, _root in spaces)
    return f"{head}\n<available_workspaces>\n{listing}\n</available_workspaces>"


def context(session: str, workspace: str, tool: str, task: str, memory: str) -> dict[str, str]:
    agent = tool.split("_", 1)[0]
    return {
        "sessionId": session,
        "workspaceId": workspace,
        "sessionDescription": AGENT_TOPICS[agent],
        "sessionMemory": memory,
        "toolContext": f"{AGENT_TOPICS[agent]} request",
        "primaryGoal": task[0].upper() + task[1:],
        "subgoal": tool.split("_", 1)[-1],
    }


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.calls = 0

    def call_id(self) -> str:
        self.calls += 1
        return f"call_{self.calls:05d}"

    def setting(self) -> tuple[str, list[tuple[str, str, str]], str, Values]:
        spaces = workspaces(self.rng)
        values = Values(self.rng, spaces)
        session = values.session_id()
        return session, spaces, system_prompt(self.rng, session, spaces), values

    def request(self, tool: str, values: Values, template: int | None = None) -> tuple[str, dict[str, Any], str]:
        """(request text, arguments without context, task phrase) for ``tool``."""
        task, draw, templates = TOOLS[tool]
        drawn = draw(values)
        drawn.update(derived(drawn))
        text, mapping = templates[self.rng.randrange(len(templates)) if template is None else template]
        arguments = {
            name: (source.value if isinstance(source, Lit) else drawn[source]) for name, source in mapping.items()
        }
        return text.format(**drawn), arguments, task.format(**drawn)

    def tool_call(self, tool: str, arguments: dict[str, Any], session: str, workspace: str, task: str, memory: str):
        payload = {"context": context(session, workspace, tool, task, memory), **arguments}
        return {
            "id": self.call_id(),
            "type": "function",
            "function": {"name": tool, "arguments": json.dumps(payload, ensure_ascii=False)},
        }

    def single(self, tool: str, template: int | None = None) -> dict[str, Any]:
        session, spaces, system, values = self.setting()
        text, arguments, task = self.request(tool, values, template)
        call = self.tool_call(tool, arguments, session, spaces[0][1], task, f"The user asked me to {task}.")
        return conversation(system, text, [call])

    def pair(self, first: str, second: str) -> dict[str, Any]:
        session, spaces, system, values = self.setting()
        text_one, args_one, task_one = self.request(first, values)
        text_two, args_two, task_two = self.request(second, values)
        joiner = self.rng.choice(["{a} Then {b}", "Two things: {a} And {b}", "{a} After that, {b}"])
        text = joiner.format(a=text_one, b=text_two[0].lower() + text_two[1:])
        memory = f"The user asked me to {task_one} and to {task_two}."
        calls = [
            self.tool_call(first, args_one, session, spaces[0][1], task_one, memory),
            self.tool_call(second, args_two, session, spaces[0][1], task_two, memory),
        ]
        return conversation(system, text, calls)

    def text_answer(self, question: str, answer: str) -> dict[str, Any]:
        return self.answered(question, {"role": "assistant", "content": answer})[0]

    def answered(self, question: str, answer: dict[str, Any]) -> tuple[dict[str, Any], str]:
        session, _spaces, system, _values = self.setting()
        row = {"conversations": [{"role": "system", "content": system}, {"role": "user", "content": question}, answer]}
        return row, session

    def needless_call(self, question: str, answer: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A question no tool answers: answered in text (good), and with a search or read call (bad)."""
        good, session = self.answered(question, {"role": "assistant", "content": answer})
        tool = self.rng.choice(["vaultLibrarian_searchContent", "contentManager_readContent"])
        arguments = {"query" if tool.startswith("vaultLibrarian") else "filePath": question}
        call = self.tool_call(tool, arguments, session, "default", "answer a question", "A general question.")
        bad = json.loads(json.dumps(good))
        bad["conversations"][-1] = {"role": "assistant", "content": None, "tool_calls": [call]}
        return good, bad


def conversation(system: str, text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "conversations": [
            {"role": "system", "content": system},
            {"role": "user", "content": text},
            {"role": "assistant", "content": None, "tool_calls": calls},
        ]
    }


def sft_rows(generator: Generator) -> list[dict[str, Any]]:
    rows = []
    for tool, (_task, _draw, templates) in TOOLS.items():
        for index in range(SFT_PER_TOOL):  # every template at least once, then drawn
            rows.append(generator.single(tool, index if index < len(templates) else None))
    names = list(TOOLS)
    for _ in range(TWO_TOOL_REQUESTS):
        first, second = generator.rng.sample(names, 2)
        rows.append(generator.pair(first, second))
    for question, answer in TEXT_QA[:TEXT_ANSWERS]:
        rows.append(generator.text_answer(question, answer))
    generator.rng.shuffle(rows)
    return rows


# --- KTO pairs: the same request answered well (label true) and badly (label false) ---------------------------


def _wrong_tool(tool: str, rng: random.Random) -> str:
    agent = tool.split("_", 1)[0]
    same_agent = [name for name in TOOLS if name.startswith(agent + "_") and name != tool]
    return rng.choice(same_agent or [name for name in TOOLS if name != tool])


def spoil(row: dict[str, Any], kind: str, rng: random.Random) -> dict[str, Any]:
    """A copy of a good single-call row with one typical mistake."""
    bad = json.loads(json.dumps(row))
    answer = bad["conversations"][-1]
    call = answer["tool_calls"][0]["function"]
    arguments = json.loads(call["arguments"])
    if kind == "wrong_tool":
        call["name"] = _wrong_tool(call["name"], rng)
    elif kind == "invented_name":
        agent, _, mode = call["name"].partition("_")
        call["name"] = f"{agent}_{mode}s" if mode else f"{agent}s"
    elif kind == "wrong_session":
        arguments["context"]["sessionId"] = "session_" + "".join(rng.choice(string.digits) for _ in range(8))
    elif kind == "missing_parameter":
        required = [key for key in arguments if key != "context"]
        if required:
            del arguments[rng.choice(required)]
        else:
            del arguments["context"]
    elif kind == "prose":
        answer.pop("tool_calls")
        answer["content"] = "Sure, I can do that. Let me know when you want me to start."
        return bad
    call["arguments"] = json.dumps(arguments, ensure_ascii=False)
    return bad


def kto_rows(generator: Generator) -> list[dict[str, Any]]:
    kinds = ["wrong_tool", "invented_name", "wrong_session", "missing_parameter", "prose"]
    rows = []
    for tool in TOOLS:
        for _ in range(KTO_PER_TOOL):
            good = generator.single(tool)
            kind = kinds[len(rows) // 2 % len(kinds)]
            bad = spoil(good, kind, generator.rng)
            rows += [good | {"label": True}, bad | {"label": False, "mistake": kind}]
    for question, answer in TEXT_QA[:10]:
        good, bad = generator.needless_call(question, answer)
        rows += [good | {"label": True}, bad | {"label": False, "mistake": "needless_call"}]
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def generate() -> dict[str, str]:
    generator = Generator(SEED)
    return {SFT_FILE: render(sft_rows(generator)), KTO_FILE: render(kto_rows(generator))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped files are not up to date")
    parser.add_argument("--output", type=Path, default=SAMPLES)
    args = parser.parse_args()
    stale = []
    for name, text in generate().items():
        path = args.output / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {text.count(chr(10))} lines")
    if stale:
        print("out of date (re-run the script): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
