"""Build the emoji table (``emoji.json``) from the ``emoji`` package's data.

Every emoji the package knows (single characters, ZWJ sequences, skin-tone sequences, flags,
keycaps, with and without VS16 ``U+FE0F``) maps to one of 12 classes by its English CLDR
name; a short list of kaomoji written for the project forms class 12.

=====  ==============  ==========================================================
class  representative  contents
=====  ==============  ==========================================================
1      😀              positive faces: smiling, laughing, winking, tongue, cool
2      🤕              negative faces: sad, crying, angry, fearful, sick, skull, poo
3      ⚽              activities: sports, games, events, awards
4      🐯              animals, animal faces, bugs
5      🇯🇵              flags
6      🍙              food and drink
7      🥁              objects: instruments, tools, clothing, office, tech, money
8      🤚              people, body parts, hands, gestures, roles, skin tones
9      ❤               hearts, love, kisses, affection faces
10     🟥              symbols: shapes, signs, arrows, keycaps, zodiac, ©/®/™
11     🌏              travel, places, vehicles, nature, plants, weather, sky, time
12     (^_^)           kaomoji (text emoticons)
=====  ==============  ==========================================================

Flags are recognised by their code points (regional indicators, tag sequences).  Skin-tone
suffixes are removed from names (a skin-tone variant is in its base emoji's class).  Then
keyword rules are tried in the order 5, 9, 4, 2, 1, 3, 8, 6, 10, 11; the first class whose
keywords occur in the name wins; objects (7) is the default.  Keys are written longest first (then by code point), because the
encoder replaces them in file order: a sequence must be replaced before any emoji it
contains (🏴‍☠️ before ☠️).  Keys containing characters the encoder rewrites before emoji
matching (spaces, tabs, line ends, ``—``, ``−``) could never match and are left out.
"""
from __future__ import annotations

import json
import re

REPRESENTATIVES = ["😀", "🤕", "⚽", "🐯", "🇯🇵", "🍙", "🥁", "🤚", "❤", "🟥", "🌏", "(^_^)"]

# (class, keywords matched as whole words or word prefixes in the CLDR name, e.g. "red_heart")
RULES: list[tuple[int, tuple[str, ...]]] = [
    (5, ("flag",)),
    (9, ("heart", "hearts", "kiss", "love", "couple", "smiling_face_with_hearts", "heart_eyes",
         "blowing_a_kiss", "hugging")),
    (10, ("keycap", "button", "sign", "symbol", "arrow", "square", "circle", "diamond",
          "triangle", "copyright", "registered", "trade_mark", "mark", "aries", "taurus",
          "gemini", "cancer", "leo", "virgo", "libra", "scorpio", "sagittarius", "capricorn",
          "aquarius", "pisces", "ophiuchus", "exclamation", "question", "infinity", "recycling",
          "prohibited", "no_entry", "radioactive", "biohazard", "peace", "yin_yang", "om",
          "star_of_david", "wheel_of_dharma", "atom", "fleur", "trident", "name_badge",
          "japanese", "sparkle", "eight", "plus", "minus", "divide", "multiply", "equals",
          "dollar_sign", "currency", "bangbang", "wavy_dash", "part_alternation", "loop",
          "cross", "check", "ballot", "id", "vs", "cool_button", "free", "new", "ok_button",
          "sos", "up!", "input", "information", "atm", "wc", "litter", "potable", "wheelchair",
          "restroom", "baby_symbol", "passport", "customs", "baggage", "left_luggage",
          "children_crossing", "no_", "speaker", "bell", "mute", "bright", "dim", "cinema",
          "antenna", "vibration", "mobile_phone_off", "female_sign", "male_sign",
          "transgender_symbol", "medical", "hundred_points", "anger_symbol", "dizzy",
          "collision", "sweat_droplets", "dashing", "speech", "thought", "zzz", "hole")),
    (2, ("frowning", "sad", "cry", "crying", "weary", "tired", "anxious", "fearful", "scream",
         "angry", "pouting", "enraged", "cursing", "skull", "pile_of_poo", "confounded",
         "persevering", "disappointed", "worried", "confused", "unamused", "downcast",
         "sneezing", "nauseated", "vomiting", "hot_face", "cold_face", "woozy", "dizzy_face",
         "exploding", "head_bandage", "thermometer", "medical_mask", "sleepy", "sleeping",
         "lying", "grimacing", "zipper", "expressionless", "neutral", "rolling_eyes",
         "anguished", "astonished", "flushed", "pleading", "hushed", "goblin", "ogre", "ghost",
         "alien", "robot", "clown", "imp", "face_with_horns", "shaking", "melting", "diagonal_mouth",
         "dotted_line", "without_mouth", "monocle", "raised_eyebrow", "steam", "crossed_out",
         "spiral_eyes", "open_mouth", "face_exhaling", "in_clouds", "peeking", "salute",
         "holding_back_tears", "tear", "mouth")),
    (1, ("grinning", "smiling", "smile", "beaming", "laughing", "joy", "rolling_on_the_floor",
         "winking", "wink", "upside", "relieved", "savoring", "tongue", "squinting", "money",
         "nerd", "sunglasses", "cowboy", "partying", "star-struck", "star_struck", "zany",
         "shushing", "thinking", "hand_over_mouth", "halo", "grin", "face")),
    (4, ("cat", "dog", "monkey", "gorilla", "orangutan", "wolf", "fox", "raccoon", "lion",
         "tiger", "leopard", "horse", "unicorn", "zebra", "deer", "bison", "cow", "ox",
         "buffalo", "pig", "boar", "ram", "ewe", "goat", "camel", "llama", "giraffe",
         "elephant", "mammoth", "rhinoceros", "hippopotamus", "mouse", "rat", "hamster",
         "rabbit", "chipmunk", "beaver", "hedgehog", "bat", "bear", "koala", "panda", "sloth",
         "otter", "skunk", "kangaroo", "badger", "paw", "turkey", "chicken", "rooster",
         "chick", "bird", "penguin", "dove", "eagle", "duck", "swan", "owl", "dodo", "feather",
         "flamingo", "peacock", "parrot", "frog", "crocodile", "turtle", "lizard", "snake",
         "dragon", "sauropod", "t-rex", "whale", "dolphin", "seal", "fish", "tropical_fish",
         "blowfish", "shark", "octopus", "shell", "coral", "jellyfish", "snail", "butterfly",
         "bug", "ant", "honeybee", "beetle", "lady_beetle", "cricket", "cockroach", "spider",
         "scorpion", "mosquito", "fly", "worm", "microbe", "donkey", "moose", "goose", "wing",
         "phoenix", "crab", "lobster", "shrimp", "squid", "oyster", "poodle", "service_dog",
         "guide_dog", "jellyfish", "hatching", "baby_chick")),
    (6, ("food", "fruit", "grapes", "melon", "watermelon", "tangerine", "lemon", "lime",
         "banana", "pineapple", "mango", "apple", "pear", "peach", "cherries", "strawberry",
         "blueberries", "kiwi", "tomato", "olive", "coconut", "avocado", "eggplant", "potato",
         "carrot", "corn", "pepper", "cucumber", "leafy", "broccoli", "garlic", "onion",
         "mushroom", "peanuts", "beans", "chestnut", "ginger", "pea_pod", "bread", "croissant",
         "baguette", "flatbread", "pretzel", "bagel", "pancakes", "waffle", "cheese", "meat",
         "poultry", "bacon", "hamburger", "fries", "pizza", "hot_dog", "sandwich", "taco",
         "burrito", "tamale", "stuffed", "falafel", "egg", "cooking", "pot_of_food", "fondue",
         "bowl", "salad", "popcorn", "butter", "salt", "canned", "bento", "rice", "curry",
         "ramen", "spaghetti", "sweet_potato", "oden", "sushi", "shrimp", "fish_cake",
         "moon_cake", "dango", "dumpling", "fortune_cookie", "takeout", "ice_cream", "shaved_ice",
         "doughnut", "cookie", "cake", "birthday", "shortcake", "cupcake", "pie", "chocolate",
         "candy", "lollipop", "custard", "honey", "baby_bottle", "milk", "coffee", "teapot",
         "tea", "sake", "champagne", "wine", "cocktail", "tropical_drink", "beer", "clinking",
         "tumbler", "pouring", "cup_with_straw", "bubble_tea", "beverage", "mate",
         "chopsticks", "fork", "spoon", "knife", "amphora", "jar", "drink", "glass", "oden",
         "roasted", "steaming")),
    (3, ("soccer", "ball", "baseball", "softball", "basketball", "volleyball", "football",
         "rugby", "tennis", "flying_disc", "bowling", "cricket_game", "field_hockey",
         "ice_hockey", "lacrosse", "ping_pong", "badminton", "boxing", "martial_arts",
         "goal_net", "flag_in_hole", "ice_skate", "fishing_pole", "diving_mask",
         "running_shirt", "skis", "sled", "curling", "direct_hit", "yo-yo", "kite", "pool_8",
         "crystal_ball", "magic_wand", "video_game", "joystick", "slot_machine", "game_die",
         "puzzle", "teddy", "pinata", "nesting_dolls", "dolls", "spade_suit", "heart_suit",
         "diamond_suit", "club_suit", "chess", "joker", "mahjong", "flower_playing_cards",
         "performing_arts", "framed_picture", "artist_palette", "thread", "sewing", "yarn",
         "knot", "medal", "trophy", "sports", "jack-o-lantern", "christmas_tree", "fireworks",
         "sparkler", "firecracker", "balloon", "party_popper", "confetti", "tanabata",
         "pine_decoration", "carp_streamer", "wind_chime", "moon_viewing", "red_envelope",
         "ribbon", "wrapped_gift", "reminder_ribbon", "admission_tickets", "ticket",
         "military_medal", "surfing", "swimming", "skier", "snowboarder", "golf", "person_lifting",
         "cartwheel", "juggling", "playing", "horse_racing", "water_polo", "handball",
         "wrestling", "fencing", "climbing", "rowing", "biking", "bicycling", "mountain_biking")),
    (11, ("globe", "world", "map", "mountain", "volcano", "camping", "beach", "desert",
          "island", "park", "stadium", "building", "house", "home", "office", "hospital",
          "bank", "hotel", "school", "store", "factory", "castle", "wedding", "tower", "statue",
          "church", "mosque", "temple", "synagogue", "shrine", "kaaba", "fountain", "tent",
          "foggy", "night", "sunrise", "sunset", "cityscape", "bridge", "hot_springs",
          "carousel", "ferris", "roller_coaster", "barber", "circus", "locomotive", "railway",
          "train", "tram", "metro", "station", "bus", "trolleybus", "minibus", "ambulance",
          "fire_engine", "police_car", "taxi", "automobile", "car", "sport_utility", "pickup",
          "truck", "tractor", "racing", "motorcycle", "scooter", "bicycle", "skateboard",
          "roller_skate", "wheel", "motorway", "track", "oil_drum", "fuel", "light", "stop_sign",
          "construction", "anchor", "ring_buoy", "sailboat", "canoe", "speedboat", "ship",
          "ferry", "boat", "airplane", "seat", "helicopter", "suspension", "tramway", "aerial",
          "satellite", "rocket", "flying_saucer", "bellhop", "luggage", "hourglass", "watch",
          "clock", "o’clock", "thirty", "moon", "sun", "star", "comet", "cloud", "tornado", "fog",
          "wind", "cyclone", "rainbow", "umbrella", "zap", "high_voltage", "snowflake",
          "snowman", "fire", "droplet", "water_wave", "sparkles", "jack", "bouquet", "blossom",
          "rosette", "rose", "hibiscus", "sunflower", "tulip", "hyacinth", "lotus", "seedling",
          "potted", "evergreen", "deciduous", "palm", "cactus", "sheaf", "herb", "shamrock",
          "clover", "maple", "leaf", "leaves", "empty_nest", "nest", "rock", "wood",
          "hut", "derelict", "classical", "brick", "love_hotel", "convenience", "post_office",
          "department", "japanese_castle", "earth", "milky", "thermometer_weather", "lightning",
          "rain", "snow", "cloud_with", "wilted", "plant", "tree", "flower", "herb", "mushroom_rock")),
    (8, ("person", "people", "man", "woman", "men", "women", "boy", "girl", "child", "baby",
         "adult", "older", "family", "hand", "hands", "thumbs", "finger", "fist", "palm",
         "wave", "waving", "clapping", "raising", "folded", "writing", "nail", "selfie",
         "flexed", "mechanical_arm", "mechanical_leg", "leg", "foot", "ear", "nose", "brain",
         "anatomical", "lungs", "tooth", "bone", "eyes", "eye", "tongue_", "mouth_", "lips",
         "skin_tone", "light_skin", "dark_skin", "thumb", "hair", "bald", "beard", "prince",
         "princess", "worker", "technologist", "scientist", "astronaut", "firefighter",
         "officer", "detective", "guard", "ninja", "student", "teacher", "judge", "farmer",
         "cook", "mechanic", "pilot", "artist", "singer", "health", "santa", "claus", "mage",
         "fairy", "vampire", "merperson", "mermaid", "merman", "elf", "genie", "zombie", "troll",
         "superhero", "supervillain", "bride", "groom", "pregnant", "breast", "angel", "mx",
         "footprints", "silhouette", "speaking_head", "bust", "pinched", "crossed_fingers",
         "love-you", "call_me", "backhand", "index", "middle_finger", "vulcan", "ok_hand",
         "victory", "sign_of_the_horns", "pushing", "pointing", "gesturing", "bowing",
         "facepalming", "shrugging", "tipping", "frowning_person", "pouting_person", "mage",
         "deaf", "standing", "kneeling", "walking", "running", "dancing", "levitating",
         "in_tuxedo", "with_veil", "in_lotus", "in_bath", "in_bed", "holding_hands",
         "handshake", "crown", "manual_wheelchair", "motorized", "white_cane", "probing",
         "component", "red_hair", "curly_hair", "white_hair", "feeding", "bearded", "blond",
         "knocking", "steamy", "haircut", "massage", "cook", "juggling_person")),
]

#: Kaomoji (class 12), written for the project.  No spaces: those never reach emoji matching.
KAOMOJI = [
    "(^_^)", "(^^)", "(^o^)", "(^O^)", "(^▽^)", "(^-^)", "(^.^)", "(^_^;)", "(^^;)", "(^^ゞ",
    "(*^_^*)", "(*^^*)", "(*^▽^*)", "(^_-)", "(^_-)-☆", "(T_T)", "(T^T)", "(;_;)", "(;O;)",
    "(>_<)", "(>_<;)", "(-_-)", "(-_-;)", "(-_-)zzz", "(・∀・)", "(・ω・)", "(´・ω・`)",
    "(´;ω;`)", "(￣▽￣)", "(￣ー￣)", "(ーー;)", "(＾＾)", "(＾_＾)", "(＾▽＾)", "(*´▽`*)",
    "(*´ω`*)", "(*´∀`*)", "(゜o゜)", "(°_°)", "(@_@)", "(≧▽≦)", "(≧∇≦)", "(´∀`)", "(`・ω・´)",
    "ヽ(^o^)ノ", "ヽ(*´∀`)ノ", "＼(^o^)／", "＼(^_^)／", "(o^^o)", "(o^_^o)", "(^ω^)",
    "（＾ω＾）", "（＾＾）", "（＾_＾）", "（・∀・）", "（´・ω・｀）", "（＞＿＜）", "（Ｔ＿Ｔ）",
]

_NEVER_MATCH = set(" \u3000\t\n\r—−")


_ORDER = [5, 9, 4, 2, 1, 6, 3, 8, 10, 11]   # the order the rules are tried in
_SKIN = re.compile(r"_(?:medium-)?(?:light|medium|dark)(?:-light|-dark)?_skin_tone")


def _is_flag(e: str) -> bool:
    return any(0x1F1E6 <= ord(c) <= 0x1F1FF or 0xE0061 <= ord(c) <= 0xE007F for c in e)


def classify(name: str, text: str = "") -> int:
    """Class 1-11 of an emoji from its CLDR name (``:red_heart:``) and, for flags, its text."""
    if text and _is_flag(text):
        return 5
    n = _SKIN.sub("", name.strip(":").lower().replace(" ", "_"))
    n = n.replace(",", "")
    if n.endswith("skin_tone") or n in ("light", "medium", "dark"):
        return 8
    words = n.replace("-", "_").split("_")
    rules = dict(RULES)
    for cls in _ORDER:
        keys = rules[cls]
        for k in keys:
            if "_" in k or not k.isalnum():
                if k in n:
                    return cls
            elif k in words:
                return cls
    return 7


def build_emoji_table(data: dict | None = None) -> dict:
    """``{"emoji": {text: class token}, "emoji_inv": {class token: representative}}``."""
    if data is None:
        import emoji
        data = emoji.EMOJI_DATA
    table: dict[str, int] = {}
    for e, info in data.items():
        cls = classify(info["en"], e)
        forms = {e}
        if info.get("variant") and "\ufe0f" not in e:
            forms.add(e + "\ufe0f")
        for f in forms:
            if not _NEVER_MATCH.intersection(f):
                table[f] = cls
    for k in KAOMOJI:
        if not _NEVER_MATCH.intersection(k):
            table[k] = 12
    for i, rep in enumerate(REPRESENTATIVES, 1):
        table.setdefault(rep, i)
    keys = sorted(table, key=lambda k: (-len(k), k))
    return {"emoji": {k: f"<|emoji{table[k]}|>" for k in keys},
            "emoji_inv": {f"<|emoji{i}|>": rep for i, rep in enumerate(REPRESENTATIVES, 1)}}


def write_emoji_table(path: str, data: dict | None = None) -> dict:
    from swelm.publish import write_text
    table = build_emoji_table(data)
    write_text(path, json.dumps(table, ensure_ascii=False, indent=0) + "\n")
    return table

