"""Word lists for negatives: English words that are not keywords, for synthetic training clips and test streams.

A spotter hears far more words that are not its keywords than words that are, and the ones that
sound like a keyword ("go" in "goal", "off" in "often", "left" against "lift") make most of its
false alarms. Two disjoint lists, both free of the ten command words and their homophones
(`HOMOPHONES`: "know", "write", ... would be a keyword to a listener):

- `TRAINING_NEGATIVE_WORDS`: sound-alikes of each keyword (a changed vowel or consonant, the keyword
  inside a longer word) and common words, spoken by synthetic speakers as `_unknown_` training
  clips (`make_synthetic_dataset.py --words`);
- `STREAM_NEGATIVE_WORDS`: other common words and one other sound-alike per keyword (6% of the
  list: a first list with five sound-alikes per keyword, 38%, made the streams' false alarms a
  measure of prefixes alone -- "noble", "gnome" and "nose" heard as "no" made a third of them),
  for the synthetic talk of test streams (make_streaming_test.py), so that a stream's false
  alarms are measured on words no model trained on.

This module is a library: nothing runs at import.
"""

from kws.data import labels as label_sets

# Words a listener hears as a keyword: never a negative.
HOMOPHONES = ("know", "knows", "write", "rite", "right", "wright", "yess", "awn", "upp", "goe")

TRAINING_NEGATIVE_WORDS = (
    # sound-alikes: yes, no, up, down, left, right, on, off, stop, go
    "yet", "yeah", "yep", "guess", "less", "yell", "chess", "bless",
    "nope", "now", "nod", "note", "snow", "nor", "noon",
    "cup", "pup", "app", "hop", "upper", "supper",
    "town", "gown", "crown", "dawn", "done", "downtown", "round",
    "lift", "loft", "laughed", "lend", "leaf", "theft", "lefty",
    "light", "night", "bright", "ride", "white", "rice", "ripe",
    "in", "an", "own", "onion", "honor", "gone", "john",
    "of", "often", "cough", "soft", "office", "awful",
    "top", "shop", "stock", "step", "stomp", "spot", "star",
    "goal", "glow", "good", "ghost", "grow", "dough", "oh", "toe", "ago", "cargo",
    # common words
    "the", "and", "that", "was", "with", "they", "this", "have", "from", "what", "some", "when",
    "your", "said", "each", "which", "their", "time", "will", "about", "many", "then", "would",
    "like", "these", "long", "make", "thing", "look", "more", "day", "could", "come", "sound",
    "people", "over", "first", "water", "been", "call", "who", "find", "number",
    "little", "very", "after", "where", "through", "back", "much", "before", "line", "mean",
    "same", "tell", "boy", "came", "want", "show", "also", "around", "form",
    "small", "set", "put", "end", "does", "another", "well", "large", "must", "big", "even",
    "such", "because", "turn", "here", "why", "ask", "went", "men", "read", "need", "land",
    "different", "home", "us", "move", "try", "kind", "hand", "picture", "again", "change",
    "play", "spell", "air", "away", "animal", "point", "page", "letter", "mother", "answer",
    "found", "study", "still", "learn", "should", "america", "world", "high", "every", "near",
    "add", "food", "between", "below", "country", "plant", "last", "school", "father", "keep",
    "tree", "never", "start", "city", "earth", "eye", "thought", "head", "under", "story",
    "saw", "few", "while", "along", "might", "close", "something", "seem", "next", "hard",
    "open", "example", "begin", "life", "always", "those", "both", "paper", "together", "got",
    "group", "run", "important", "until", "children", "side", "feet", "car", "mile",
    "walk", "sea", "began", "took", "river", "four", "carry", "state", "once",
    "book", "hear", "without", "second", "later", "miss", "idea", "enough", "eat",
    "face", "watch", "far", "indian", "really", "almost", "let", "above", "girl", "sometimes",
    "mountain", "cut", "young", "talk", "soon", "list", "song", "being", "leave", "family",
)

STREAM_NEGATIVE_WORDS = (
    # other sound-alikes, one per keyword: about 6% of the words, where real talk has a few percent
    "yesterday", "nothing", "upset", "brown", "lofty", "fight", "honest", "offer", "stack", "going",
    # other common words
    "morning", "evening", "coffee", "kitchen", "window", "music", "purple", "garden", "pocket",
    "table", "chair", "pencil", "orange", "banana", "computer", "telephone", "weather", "summer",
    "winter", "monday", "friday", "doctor", "teacher", "student", "market", "money", "ticket",
    "station", "museum", "library", "bottle", "basket", "candle", "mirror", "pillow", "blanket",
    "thunder", "rainbow", "planet", "ocean", "island", "forest", "valley", "desert", "bridge",
    "castle", "village", "airport", "hospital", "picnic", "holiday", "birthday", "question",
    "problem", "minute", "hour", "moment", "history", "science", "language", "english", "travel",
    "thanks", "please", "sorry", "maybe", "perhaps", "tomorrow", "tonight", "certainly",
    "beautiful", "wonderful", "terrible", "quickly", "slowly", "quiet", "excuse", "anyway",
    "breakfast", "dinner", "lunch", "sugar", "butter", "cheese", "bread", "apple", "lemon", "potato",
    "tomato", "carrot", "pepper", "salad", "bedroom", "bathroom", "garage", "camera", "movie", "guitar",
    "piano", "violin", "basketball", "football", "tennis", "soccer", "swimming", "bicycle", "train",
    "bus", "truck", "taxi", "engine", "wheel", "street", "corner", "building", "church", "college",
    "university", "program", "project", "meeting", "company", "business", "manager", "customer",
    "service", "address", "brother", "sister", "daughter", "husband", "wife", "friend", "neighbor",
    "baby", "person", "woman", "actually", "probably", "usually", "already", "interesting",
    "difficult", "possible", "special", "favorite", "weekend", "season", "autumn", "january",
    "april", "september", "december", "hundred", "thousand", "million", "dollar", "price", "cheap",
    "expensive", "healthy", "hungry", "thirsty", "tired", "busy", "ready", "early", "late",
)



def check_lists():
    """Raises ValueError if a list holds a keyword or a homophone of one, or the two lists share a word."""
    banned = set(label_sets.COMMAND_WORDS) | set(HOMOPHONES)
    for name, words in (("TRAINING_NEGATIVE_WORDS", TRAINING_NEGATIVE_WORDS),
                          ("STREAM_NEGATIVE_WORDS", STREAM_NEGATIVE_WORDS)):
        bad = sorted(set(words) & banned)
        if bad:
            raise ValueError(f"{name} holds keywords or their homophones: {bad}")
    shared = sorted(set(TRAINING_NEGATIVE_WORDS) & set(STREAM_NEGATIVE_WORDS))
    if shared:
        raise ValueError(f"the training and stream negatives share {shared}")
